// Live captions in the room: the speakers' words as they come (`caption` frames), a Show/Hide
// button kept in localStorage, the host's "Turn captions on", and a speaker's own consent. The
// room (room.js) hands every websocket frame over as a `spaces:frame` event on #room; this module
// keeps its own state from the captions API and those frames. The pure functions are tested with
// Node (tests/js/captions.test.mjs).
import { describe, spaceApi } from "./api.js";

export const SHOW_KEY = "spaces:captions:show";
export const MAX_LINES = 6;
// Frames after which what the viewer may do about captions can have changed: asked for again.
const REFRESH_ON = new Set(["snapshot", "captions.updated", "participant.role_changed", "participant.removed",
  "space.started", "space.ended"]);

/** The lines on screen after a `caption` frame's data: a partial line replaces the previous
 * partial of the same speakers, a final line replaces that partial; at most MAX_LINES. */
export function addCaption(lines, data) {
  if (!data || typeof data.text !== "string" || !data.text) return lines;
  const key = (data.speaker_ids || []).join(",");
  if (data.final && data.id != null && lines.some((line) => line.id === data.id)) return lines;
  const rest = lines.filter((line) => !(line.partial && line.key === key));
  const line = { key, id: data.final ? data.id : null, name: data.name || "Speaker", text: data.text, partial: !data.final };
  return [...rest, line].slice(-MAX_LINES);
}

/** The sentence under the title, from the captions state (API shape) and the viewer's choice. */
export function statusText(state, shown) {
  if (!state) return "";
  if (!state.on) return state.may_toggle ? "Captions are off. Turn them on to caption the speakers who agree to it." : "Captions are off.";
  const count = (state.captioned || []).length;
  const who = count === 0 ? "No speaker has agreed to be captioned yet." : `${count} speaker${count === 1 ? "" : "s"} captioned.`;
  return `Captions are on. ${who}${shown ? "" : " Hidden on this device."}`;
}

/** Which buttons the viewer sees, and what they say. */
export function controls(state) {
  const on = Boolean(state?.on);
  return {
    toggle: { hidden: !state?.may_toggle, text: on ? "Turn captions off" : "Turn captions on" },
    consent: { hidden: !(state?.may_consent && !state.consented) },
    revoke: { hidden: !(state?.may_consent && state.consented) },
  };
}

/** The captions card is for everyone once captions are on, and before that for whoever can act. */
export function visible(state) {
  return Boolean(state && (state.on || state.may_toggle || state.may_consent));
}

export function shownPreference(storage) {
  try {
    return storage?.getItem(SHOW_KEY) !== "0";
  } catch {
    return true;
  }
}

function mount() {
  const root = document.getElementById("room");
  const box = document.getElementById("captions");
  if (!root || !box) return;
  const $ = (id) => document.getElementById(id);
  const api = spaceApi(root.dataset.code);
  let state = null;
  let lines = [];
  let shown = shownPreference(window.localStorage);
  let timer = null;

  function draw() {
    const c = controls(state);
    box.hidden = !visible(state);
    $("captions-toggle").hidden = c.toggle.hidden;
    $("captions-toggle").textContent = c.toggle.text;
    $("captions-consent").hidden = c.consent.hidden;
    $("captions-revoke").hidden = c.revoke.hidden;
    $("captions-status").textContent = statusText(state, shown);
    $("captions-show").textContent = shown ? "Hide captions" : "Show captions";
    $("captions-show").setAttribute("aria-pressed", String(shown));
    box.classList.toggle("hidden-lines", !shown);
    box.classList.toggle("off", !state?.on); // only the status and the buttons: a strip
    const list = $("caption-lines");
    list.replaceChildren(...lines.map((line) => {
      const item = document.createElement("li");
      item.className = line.partial ? "partial" : "";
      const name = document.createElement("span");
      name.className = "speaker";
      name.textContent = `${line.name}:`;
      item.append(name, document.createTextNode(line.text));
      return item;
    }));
    list.scrollTop = list.scrollHeight;
  }

  async function load() {
    try {
      state = await api("GET", "captions/");
      if (lines.length === 0) for (const line of state.lines || []) lines = addCaption(lines, line);
    } catch { /* shown again at the next frame */ }
    draw();
  }
  const later = () => { clearTimeout(timer); timer = setTimeout(load, 250); };

  async function run(work) {
    try {
      state = await work();
    } catch (error) {
      $("captions-status").textContent = describe(error);
      return;
    }
    draw();
  }

  root.addEventListener("spaces:frame", (event) => {
    const frame = event.detail;
    if (frame?.type === "caption") {
      lines = addCaption(lines, frame.data);
      if (shown) draw();
    } else if (REFRESH_ON.has(frame?.type)) {
      later();
    }
  });
  $("captions-show").addEventListener("click", () => {
    shown = !shown;
    try { window.localStorage.setItem(SHOW_KEY, shown ? "1" : "0"); } catch { /* private mode */ }
    draw();
  });
  $("captions-toggle").addEventListener("click", () => run(() => api("PUT", "captions/", { on: !state?.on })));
  $("captions-consent").addEventListener("click", () => {
    if (!window.confirm("Your words will be turned into text by this site's server and shown to everyone in Spaces whose captions are on, and kept with their replays. Agree?")) return;
    run(() => api("POST", "captions/consent/"));
  });
  $("captions-revoke").addEventListener("click", () => run(() => api("DELETE", "captions/consent/")));
  load();
}

if (typeof document !== "undefined") mount();
