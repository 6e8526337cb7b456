// The profile page: browser notifications on or off for this browser (permission is asked only
// when the person presses the button).

import { pushState, pushSubscribe, pushUnsubscribe } from "./push.js";

const on = document.getElementById("push-on");
const off = document.getElementById("push-off");
const status = document.getElementById("push-status");

const WORDS = {
  unsupported: "this browser cannot show notifications from websites.",
  blocked: "blocked for this site; allow notifications in the browser's site settings.",
  on: "on in this browser.",
  off: "off in this browser.",
};

async function show(state) {
  state ??= await pushState().catch(() => "off");
  status.textContent = WORDS[state];
  on.hidden = state === "on" || state === "unsupported";
  off.hidden = state !== "on";
}

async function run(action, state) {
  on.disabled = off.disabled = true;
  try {
    await action();
    await show(state);
  } catch (error) {
    status.textContent = error.message || String(error);
  } finally {
    on.disabled = off.disabled = false;
  }
}

on.addEventListener("click", () => run(pushSubscribe, "on"));
off.addEventListener("click", () => run(pushUnsubscribe, "off"));
show();
