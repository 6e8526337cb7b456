// The room's host tools: the link pinned for everyone at the top of the room, and for the host
// and co-hosts "Mute all speakers" and the form that pins a link (docs/REALTIME.md, `me.can`).
// The pinned link is drawn as an anchor's text and href, never as HTML; the server let only an
// http(s) address through, and the page checks the scheme again before it makes it a link.
import { viewerMay } from "./actions.js";
import { describe, spaceApi } from "./api.js";

const $ = (id) => document.getElementById(id);
const WEB = /^https?:\/\//i;

/** Draw the pinned link (or hide it) and the staff tools the viewer may use. */
export function renderTools(state) {
  const bar = $("pinned");
  if (!bar) return;
  const pin = state.space?.state === "live" && !state.removed ? state.space.pinned : null;
  const href = pin && WEB.test(pin.url) ? pin.url : "";
  bar.hidden = !href;
  const link = $("pinned-link");
  if (link.getAttribute("href") !== (href || null)) {
    if (href) link.setAttribute("href", href);
    else link.removeAttribute("href");
  }
  link.textContent = href ? pin.label || pin.url : "";
  link.title = href;
  $("unpin").hidden = !(href && viewerMay(state, "pin_link"));
  $("mute-all").hidden = !viewerMay(state, "mute_all");
  $("pin-form").hidden = !viewerMay(state, "pin_link");
}

function tell(text) {
  const list = $("toasts-tools");
  const item = document.createElement("li");
  item.textContent = text;
  list.append(item);
  while (list.children.length > 3) list.firstChild.remove();
  setTimeout(() => item.remove(), 6000);
}

// What each tool says when it is done, or the server's sentence when it is refused. The room
// itself changes by the frames that follow (space.updated, participant.muted).
const run = (work) => work().catch((error) => tell(describe(error)));

function wireTools(root) {
  const api = spaceApi(root.dataset.code);
  $("pin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    run(async () => {
      await api("PUT", "pin/", { url: form.elements.url.value.trim(), label: form.elements.label.value.trim() });
      form.reset();
      tell("Link pinned for everyone in the room.");
    });
  });
  $("unpin").addEventListener("click", () => run(async () => {
    await api("DELETE", "pin/");
    tell("Link unpinned.");
  }));
  $("mute-all").addEventListener("click", () => run(async () => {
    const { muted } = await api("POST", "mute-all/");
    const n = muted.length;
    tell(n ? `Muted ${n} speaker${n === 1 ? "" : "s"}.` : "Nobody else on stage had a live microphone.");
  }));
}

if (typeof document !== "undefined" && document.getElementById("pin-form")) wireTools(document.getElementById("room"));
