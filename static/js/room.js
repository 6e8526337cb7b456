// The share page and live room, wired together: websocket frames go through state.js (pure) and
// are drawn by render.js; every action is a REST call (api.js), and the server decides. An action
// that fails shows the server's sentence; none leaves an uncaught rejection behind.
import { actionRequest, viewerMay } from "./actions.js";
import { describe, spaceApi } from "./api.js";
import * as media from "./media.js";
import { feed, float, markSpeaking, notice, renderRoom, say } from "./render.js";
import { SpaceSocket } from "./socket.js";
import { applyFrame, initialState, nextTick, tick, withMe, withSpeaking } from "./state.js";
import { isLive } from "./views.js";

const root = document.getElementById("room");
const $ = (id) => document.getElementById(id);
const api = spaceApi(root.dataset.code);

let state = initialState();
// This page's audio: whether the person pressed Listen, and what the media server gave them.
const page = { listening: false, mediaKind: null };

function draw() {
  if (state.space) renderRoom(root, state, { mic: page.listening && page.mediaKind === "speaker" }, act);
}

/** Run `work`; an error is shown to the person, and the promise resolves (to null) anyway. */
function attempt(work) {
  return Promise.resolve()
    .then(work)
    .catch((error) => {
      notice(describe(error));
      return null;
    });
}

// --- frames from the server -------------------------------------------------------------------

const QUIET_EFFECTS = new Set(["speaking", "reaction", "error"]);

function onFrame(frame) {
  follow(applyFrame(state, frame));
}

// Deltas that came early wait a moment for the ones before them, and resync requests are spaced:
// state.js says when to look again (`nextTick`), and what to do then (`tick`).
let timer = null;
function schedule() {
  clearTimeout(timer);
  timer = null;
  const at = nextTick(state);
  if (at !== null) timer = setTimeout(() => follow(tick(state)), Math.max(0, at - Date.now()));
}

function follow(result) {
  const before = state;
  state = result.state;
  if (result.resync) socket.resync();
  schedule();
  if (result.status === "snapshot" && $("quiet") && state.me) $("quiet").checked = state.quiet;
  for (const effect of result.effects) {
    switch (effect.type) {
      case "feed": feed(effect.text); break;
      case "say": say(effect.text); break;
      case "speaking": markSpeaking(effect.id, effect.talking); break;
      case "reaction": float(effect.emoji); break;
      case "error": notice(effect.detail || "Something went wrong; try again."); break;
      case "my_role": attempt(followRole); break;
      case "over":
      case "removed": stopAudio(); break;
      default: break;
    }
  }
  const onlyQuiet = result.effects.length > 0 && result.effects.every((e) => QUIET_EFFECTS.has(e.type));
  if (state !== before && !onlyQuiet) draw();
}

const socket = new SpaceSocket(root.dataset.code, {
  onFrame,
  onStatus: (status, closeCode) => {
    $("offline").hidden = status === "open" || closeCode === 4003 || closeCode === 4004;
  },
});

// --- audio ------------------------------------------------------------------------------------

async function credentials() {
  return (await api("GET", "media/")).media;
}

async function listen() {
  const joined = await api("POST", "join/", { quiet: Boolean($("quiet")?.checked) });
  state = withMe(state, joined.participant);
  page.listening = true;
  $("listen").disabled = true;
  await startMedia(joined.media);
}

async function startMedia(creds) {
  if (!creds) {
    say("Audio is not available for this Space right now.");
    return;
  }
  try {
    await media.stop();
    page.mediaKind = null;
    if (creds.kind === "speaker") {
      say("Connecting your microphone…");
      await media.speak(creds, $("audio"), audioLost);
      $("mic").setAttribute("aria-pressed", "false");
      $("mic").textContent = "Mute my mic";
      say("You are on stage. Your microphone is live.");
    } else {
      say("Connecting audio…");
      await media.listen(creds, $("audio"), audioLost);
      say("Listening.");
    }
    page.mediaKind = creds.kind;
    $("listen").textContent = creds.kind === "speaker" ? "On stage" : "Listening";
    retry = 0;
  } catch (error) {
    say(`Audio could not start: ${error.message || error}. Retrying…`);
    audioLost();
  } finally {
    draw();
  }
}

// The media server went away (or refused us): try again with fresh credentials, with backoff.
let retry = 0;
function audioLost() {
  if (!page.listening || !isLive(state)) return;
  say("Audio interrupted; reconnecting…");
  // Soon after a media server restart everyone comes back: short steps, spread a little.
  const delay = Math.min(3000, 1000 * ++retry) + Math.random() * 500;
  setTimeout(async () => {
    try {
      await startMedia(await credentials());
    } catch {
      audioLost();
    }
  }, delay);
}

// The viewer's role changed: the media server's credentials say whether they now speak or listen.
async function followRole() {
  if (!page.listening) return;
  const creds = await credentials();
  if ((creds?.kind ?? null) !== page.mediaKind) await startMedia(creds);
}

function stopAudio() {
  page.listening = false;
  page.mediaKind = null;
  media.stop().catch(() => {});
}

// --- actions ----------------------------------------------------------------------------------

function act(action, person) {
  const request = actionRequest(action, person);
  if (!request || (request.confirm && !window.confirm(request.confirm))) return;
  attempt(() => api(request.method, request.path, request.body));
}

async function remind(button) {
  const on = button.getAttribute("aria-pressed") === "true";
  await api(on ? "DELETE" : "POST", "reminder/");
  button.setAttribute("aria-pressed", String(!on));
  button.textContent = on ? "Remind me" : "Reminder set ✓";
  button.classList.toggle("secondary", !on);
}

async function share() {
  const url = root.dataset.shareUrl;
  if (navigator.share) {
    try {
      await navigator.share({ title: document.title, url });
      return;
    } catch {
      /* fall back to copying */
    }
  }
  try {
    await navigator.clipboard.writeText(url);
    say("Link copied.");
  } catch {
    window.prompt("Copy this link", url);
  }
}

function countdown() {
  const target = new Date(root.dataset.scheduledFor).getTime();
  const out = $("countdown");
  if (!out || Number.isNaN(target)) return;
  const tick = () => {
    let left = Math.max(0, Math.round((target - Date.now()) / 1000));
    const days = Math.floor(left / 86400); left %= 86400;
    const hours = Math.floor(left / 3600); left %= 3600;
    const minutes = Math.floor(left / 60); const seconds = left % 60;
    const pad = (n) => String(n).padStart(2, "0");
    out.textContent = left + days + hours + minutes === 0 && target <= Date.now()
      ? "Starting…"
      : `${days ? `${days}d ` : ""}${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
  };
  tick();
  setInterval(tick, 1000);
}

// --- wiring -----------------------------------------------------------------------------------

$("listen").addEventListener("click", () => attempt(listen));
$("leave").addEventListener("click", async () => {
  stopAudio();
  if (viewerMay(state, "leave")) await attempt(() => api("POST", "leave/"));
  socket.close();
  window.location.href = "/";
});
$("mic").addEventListener("click", () => {
  const muted = $("mic").getAttribute("aria-pressed") !== "true";
  media.setMuted(muted);
  $("mic").setAttribute("aria-pressed", String(muted));
  $("mic").textContent = muted ? "Unmute my mic" : "Mute my mic";
  if (muted && state.me) {
    // The media server does not always say that a muted speaker stopped talking.
    state = withSpeaking(state, state.me.id, false);
    markSpeaking(state.me.id, false);
  }
});
$("hand")?.addEventListener("click", () => attempt(async () => {
  const me = await api(state.me?.hand_raised ? "DELETE" : "POST", "hand/");
  state = withMe(state, me);
  draw();
}));
$("quiet")?.addEventListener("change", (event) => socket.reopen(event.target.checked ? "?quiet=1" : ""));
$("end-space")?.addEventListener("click", () => {
  if (window.confirm("End this Space for everyone?")) attempt(() => api("POST", "end/"));
});
$("remind")?.addEventListener("click", (event) => {
  const button = event.currentTarget;
  attempt(() => remind(button));
});
for (const button of document.querySelectorAll("[data-emoji]")) {
  button.addEventListener("click", () => socket.send({ type: "reaction", emoji: button.dataset.emoji }));
}
for (const button of document.querySelectorAll("[data-share]")) button.addEventListener("click", () => attempt(share));
$("delete-replay")?.addEventListener("click", () => {
  if (!window.confirm("Delete the replay for good?")) return;
  attempt(async () => {
    await api("DELETE", "replay/");
    window.location.reload();
  });
});
countdown();
