// The share page and live room, wired together: websocket frames go through state.js (pure) and
// are drawn by render.js; every action is a REST call (api.js), and the server decides. An action
// that fails shows the server's sentence; none leaves an uncaught rejection behind.
import { actionRequest, viewerMay } from "./actions.js";
import { describe, spaceApi } from "./api.js";
import { roomAudio, speakerStatus } from "./audio.js";
import * as media from "./media.js";
import { renderOver, wireReplayDelete } from "./over.js";
import { feed, float, markSpeaking, notice, renderRoom, say, toast } from "./render.js";
import { countdown } from "./countdown.js";
import { wireShare } from "./share.js";
import { SpaceSocket } from "./socket.js";
import { applyFrame, initialState, nextTick, tick, withMe, withSpeaking } from "./state.js";
import { pushOffer } from "./push.js";
import { isLive } from "./views.js";

const root = document.getElementById("room");
const $ = (id) => document.getElementById(id);
const api = spaceApi(root.dataset.code);

let state = initialState();

// --- audio (audio.js): whether this page is in the Space's audio (pressed Listen, or on stage),
// what the media server gave it, whether the browser wants a tap before playing.
const audio = roomAudio({
  api, draw, say, remember,
  getState: () => state,
  setState: (next) => { state = next; },
  send: (frame) => socket.send(frame),
});
const { page, listen, followRole } = audio;
const stopAudio = audio.stop;
// A reload brings the audio back by itself: this tab remembers that it was listening.
const LISTENING = `spaces:listening:${root.dataset.code}`;
const remembered = () => { try { return sessionStorage.getItem(LISTENING) === "1"; } catch { return false; } };
function remember(on) {
  try {
    if (on) sessionStorage.setItem(LISTENING, "1");
    else sessionStorage.removeItem(LISTENING);
  } catch { /* private mode: nothing to remember */ }
}

function draw() {
  if (!state.space) return;
  const view = { listening: page.listening, kind: page.mediaKind, blocked: page.blocked, selfMuted: Boolean(state.me?.self_muted) };
  renderRoom(root, state, view, act);
  renderOver(root, state);
}

// Speakers never press Listen: on stage is in the audio, with the mic on. Listeners who were
// listening before a reload are back in it too.
let autoAt = 0;
function autoStart() {
  if (page.listening || page.starting || !isLive(state) || state.removed) return;
  // A host whose page waited for a scheduled start has no seat in the snapshot yet: joining gives one.
  const onStage = state.me ? state.me.role !== "listener" : root.dataset.host === "1";
  // A join that failed (its error is shown) is not tried again at every frame.
  if (!(onStage || remembered()) || Date.now() - autoAt < 10000) return;
  autoAt = Date.now();
  attempt(listen);
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
  root.dispatchEvent(new CustomEvent("spaces:frame", { detail: frame })); // captions.js follows frames too
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
      case "say": toast(effect.text); break;
      case "speaking": markSpeaking(effect.id, effect.talking); break;
      case "reaction": float(effect.emoji); break;
      case "error": notice(effect.detail || "Something went wrong; try again."); break;
      case "my_role":
        toast(effect.role === "listener" ? "You are a listener again." : `You are now ${effect.role === "cohost" ? "a co-host" : "a speaker"}: your microphone turns on.`);
        attempt(followRole);
        break;
      case "over": stopAudio(); break;
      case "removed": stopAudio(); remember(false); break;
      default: break;
    }
  }
  const onlyQuiet = result.effects.length > 0 && result.effects.every((e) => QUIET_EFFECTS.has(e.type));
  if (state !== before && !onlyQuiet) {
    draw();
    if (page.mediaKind === "speaker") say(speakerStatus(state.me));
  }
  autoStart();
}

const socket = new SpaceSocket(root.dataset.code, {
  // The share page's signed ticket: the same listener even if the websocket carries no cookie.
  params: root.dataset.ticket ? `?ticket=${encodeURIComponent(root.dataset.ticket)}` : "",
  onFrame,
  onStatus: (status, closeCode) => {
    $("offline").hidden = status === "open" || closeCode === 4003 || closeCode === 4004;
    if (status === "open" && page.listening) socket.send({ type: "listening" }); // counted again after a reconnect
  },
});

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
  if (!on) pushOffer(); // browser notifications too, asked from this click (static/js/push.js)
}

// --- wiring -----------------------------------------------------------------------------------

$("listen").addEventListener("click", () => {
  if (!page.listening) return attempt(listen);
  page.blocked = false;
  $("audio").play().catch(() => {});
  draw();
  return null;
});
$("leave").addEventListener("click", async () => {
  stopAudio();
  remember(false);
  if (viewerMay(state, "leave")) await attempt(() => api("POST", "leave/"));
  socket.close();
  window.location.href = "/";
});
$("mic").addEventListener("click", () => {
  if (!state.me) return;
  if (state.me.muted) return toast("The host muted you; only a host or co-host can unmute you. Raise it with them.");
  const muted = !state.me.self_muted;
  media.setMuted(muted);
  // Shown here at once, and to everyone once the server has it (participant.self_muted).
  state = withMe(state, { ...state.me, self_muted: muted });
  if (muted) {
    // The media server does not always say that a muted speaker stopped talking.
    state = withSpeaking(state, state.me.id, false);
    markSpeaking(state.me.id, false);
  }
  say(speakerStatus(state.me));
  draw();
  return attempt(async () => { state = withMe(state, await api("PUT", "mic/", { muted })); draw(); });
});
$("hand")?.addEventListener("click", () => attempt(async () => {
  // Opening the page is only watching: asking to speak joins the audio first (counted from then).
  if (!page.listening && !page.starting) await listen();
  const raised = Boolean(state.me?.hand_raised);
  const me = await api(raised ? "DELETE" : "POST", "hand/");
  state = withMe(state, me);
  draw();
  toast(raised ? "Request cancelled." : "Request sent. The host sees it; you can cancel it any time.");
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
wireShare({
  code: root.dataset.code,
  title: document.title,
  tell: (text) => toast(text, isLive(state) || root.dataset.state === "live" ? "share" : "scheduled"),
});
wireReplayDelete(api, attempt); // the end screen's button (over.js)
countdown(root.dataset.scheduledFor, $("countdown"));
