// The share page and live room: applies the websocket's snapshot and deltas to the page, and
// sends every action through the REST API (the server decides; the page only shows).
import { SpaceSocket } from "./socket.js";
import * as media from "./media.js";

const root = document.getElementById("room");
const code = root.dataset.code;
const signedIn = root.dataset.signedIn === "1";
const $ = (id) => document.getElementById(id);

const state = { space: null, stage: new Map(), listeners: new Map(), count: 0, hands: new Map(), me: null, listening: false };

// --- API ------------------------------------------------------------------------------------

function csrf() {
  return document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1] ?? "";
}

async function api(method, path, body) {
  const response = await fetch(`/api/spaces/${code}/${path}`, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) {
    say(data.detail || "That did not work; try again.");
    throw new Error(data.code || response.status);
  }
  return data;
}

// --- rendering ------------------------------------------------------------------------------

const roleNames = { host: "Host", cohost: "Co-host", speaker: "Speaker", listener: "Listener" };
const isStaff = () => state.me && ["host", "cohost"].includes(state.me.role) && state.space?.state === "live";

function showState(name) {
  root.dataset.state = name;
  for (const section of root.querySelectorAll("[data-when]")) {
    const when = section.dataset.when;
    section.hidden = !(when === name || (when === "ended" && !["live", "scheduled"].includes(name)));
  }
  const pill = $("state-pill");
  pill.className = `pill ${name}`;
  pill.textContent = name[0].toUpperCase() + name.slice(1);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// Frames re-render the lists (a busy room sends one a second): an action menu that is open stays
// open, with the focus on its button.
let openMenu = null;

function controlsFor(person) {
  if (!isStaff() || person.id === state.me.id || person.role === "host") return null;
  const hostOnly = state.me.role === "host";
  const items = [];
  if (person.role === "listener") items.push(["Invite to speak", () => setRole(person, "speaker")]);
  if (person.role === "speaker") items.push(["Move to listeners", () => setRole(person, "listener")]);
  if (["speaker", "cohost"].includes(person.role) && (hostOnly || person.role === "speaker")) {
    items.push([person.muted ? "Unmute" : "Mute", () => api("PATCH", `participants/${person.id}/`, { muted: !person.muted })]);
  }
  if (hostOnly && person.role !== "cohost") items.push(["Make co-host", () => setRole(person, "cohost")]);
  if (hostOnly && person.role === "cohost") items.push(["Remove co-host", () => setRole(person, "speaker")]);
  if (hostOnly || person.role !== "cohost") {
    items.push(["Remove", () => remove(person, false)]);
    items.push(["Remove and block", () => remove(person, true)]);
  }
  const keepOpen = openMenu === person.id ? { open: "" } : {};
  return el(
    "details", { "data-for": person.id, ...keepOpen },
    el("summary", { "aria-label": `Actions for ${person.name}` }, "⋯"),
    el("div", { class: "menu" }, ...items.map(([label, act]) => el("button", {
      type: "button", class: "secondary small",
      onclick: (event) => { event.target.closest("details").open = false; act(); },
    }, label))),
  );
}

function personTile(person) {
  const tile = el(
    "li", { class: "person", "data-id": person.id },
    el("span", { class: "avatar", "aria-hidden": "true" }, (person.name || "?")[0].toUpperCase()),
    person.muted ? el("span", { class: "mic-off", title: "Muted", "aria-label": "muted" }, "🔇") : null,
    el("span", { class: "name" }, person.name + (state.me && person.id === state.me.id ? " (you)" : "")),
    el("span", { class: "role" }, roleNames[person.role]),
    controlsFor(person),
  );
  return tile;
}

function render() {
  const menu = document.querySelector("details[data-for][open]");
  openMenu = menu?.dataset.for ?? null;
  const focused = menu?.contains(document.activeElement);
  const order = { host: 0, cohost: 1, speaker: 2 };
  const stage = [...state.stage.values()].sort((a, b) => order[a.role] - order[b.role]);
  $("stage").replaceChildren(...stage.map(personTile));
  $("listener-count").textContent = state.count;
  $("listeners").replaceChildren(
    ...[...state.listeners.values()].map((p) => {
      const chip = el("li", {}, p.name + (state.me && p.id === state.me.id ? " (you)" : ""));
      const controls = controlsFor(p);
      if (controls) chip.append(" ", controls);
      return chip;
    }),
  );
  $("staff-panel").hidden = !isStaff();
  $("host-actions").hidden = !(isStaff() && state.me.role === "host");
  const hands = [...state.hands.values()];
  $("hands").replaceChildren(
    ...(hands.length
      ? hands.map((p) => el("li", {}, el("span", {}, `✋ ${p.name}`),
          el("span", { class: "actions", style: "margin: 0" },
            el("button", { type: "button", class: "small", onclick: () => setRole(p, "speaker") }, "Accept"),
            el("button", { type: "button", class: "small secondary", onclick: () => decline(p) }, "Decline"))))
      : [el("li", { class: "muted" }, "No requests yet.")]),
  );
  const hand = $("hand");
  if (hand) {
    const onStage = state.me && state.me.role !== "listener";
    hand.hidden = onStage;
    hand.setAttribute("aria-pressed", String(Boolean(state.me?.hand_raised)));
    hand.textContent = state.me?.hand_raised ? "✋ Withdraw request" : "✋ Request to speak";
  }
  $("mic").hidden = !(state.listening && state.me && state.me.role !== "listener");
  if (focused) document.querySelector(`details[data-for="${CSS.escape(openMenu)}"] summary`)?.focus();
}

function feed(text) {
  const list = $("feed");
  list.prepend(el("li", {}, text));
  while (list.children.length > 50) list.lastChild.remove();
}

function say(text) {
  $("media-status").textContent = text;
}

// --- state from the server --------------------------------------------------------------------

function applySnapshot(data) {
  state.space = data.space;
  state.me = data.me;
  state.count = data.listener_count;
  state.stage = new Map(data.stage.map((p) => [p.id, p]));
  state.listeners = new Map(data.listeners.map((p) => [p.id, p]));
  state.hands = new Map((data.hands || []).map((p) => [p.id, p]));
  if (state.me?.quiet !== undefined && $("quiet")) $("quiet").checked = state.me.quiet;
  showState(data.space.state);
  render();
}

function place(person) {
  state.stage.delete(person.id);
  state.listeners.delete(person.id);
  if (!person.present && person.role === "listener") return;
  if (person.role === "listener") state.listeners.set(person.id, person);
  else state.stage.set(person.id, person);
}

async function applyEvent(frame) {
  const data = frame.data || {};
  const person = data.participant;
  const mine = person && state.me && person.id === state.me.id;
  // Every change to who is listening carries the new count: listeners.count, participant.batch,
  // participant.role_changed and participant.removed.
  if (typeof data.count === "number") state.count = data.count;
  switch (frame.type) {
    case "space.started":
    case "space.updated":
      state.space = data;
      $("space-title").textContent = data.title;
      showState(data.state);
      if (frame.type === "space.started") feed("The Space is live.");
      break;
    case "space.ended":
    case "space.cancelled":
    case "space.missed":
      state.space = data;
      showState(data.state);
      media.stop();
      break;
    case "participant.joined":
      place(person);
      feed(`${person.name} joined`);
      break;
    case "participant.left":
      place({ ...person, present: false });
      if (person.role !== "listener") state.stage.set(person.id, person);
      feed(`${person.name} left`);
      break;
    case "participant.role_changed":
      place(person);
      state.hands.delete(person.id);
      feed(`${person.name} is now ${roleNames[person.role].toLowerCase()}`);
      if (mine) {
        state.me = { ...state.me, ...person };
        await followRole(person.role, data.previous_role);
      }
      break;
    case "participant.muted":
      place(person);
      if (mine) {
        state.me = { ...state.me, ...person };
        say(person.muted ? "The host muted your microphone." : "You can speak again.");
      }
      break;
    case "participant.removed":
      place({ ...person, present: false });
      state.hands.delete(person.id);
      if (mine) {
        media.stop();
        showState("ended");
        $("over-title").textContent = "You were removed from this Space";
      }
      break;
    case "hand.raised":
      state.hands.set(person.id, person);
      if (mine) state.me.hand_raised = true;
      feed(`${person.name} asked to speak`);
      break;
    case "hand.lowered":
      state.hands.delete(person.id);
      if (mine) state.me.hand_raised = false;
      break;
    case "listeners.count":
      break;
    case "participant.batch":
      for (const p of data.joined || []) place(p);
      for (const p of data.left || []) place({ ...p, present: false });
      feed(`${data.joined_count || 0} joined, ${data.left_count || 0} left`);
      break;
    case "speaking":
      for (const tile of document.querySelectorAll(`.person[data-id="${data.participant}"]`)) {
        tile.classList.toggle("speaking", Boolean(data.talking));
      }
      return;
    case "reaction":
      float(data.emoji);
      return;
    case "error":
      say(data.detail);
      return;
    default:
      return;
  }
  render();
}

// --- media ------------------------------------------------------------------------------------

async function credentials() {
  return (await api("GET", "media/")).media;
}

async function listen() {
  const joined = await api("POST", "join/", { quiet: Boolean($("quiet")?.checked) });
  state.me = { ...(state.me || {}), ...joined.participant };
  state.listening = true;
  $("listen").textContent = joined.media?.kind === "speaker" ? "On stage" : "Listening";
  $("listen").disabled = true;
  await startMedia(joined.media);
  render();
}

async function startMedia(creds) {
  if (!creds) {
    say("Audio is not available for this Space right now.");
    return;
  }
  try {
    await media.stop();
    if (creds.kind === "speaker") {
      say("Connecting your microphone…");
      await media.speak(creds, $("audio"), audioLost);
      say("You are on stage. Your microphone is live.");
    } else {
      say("Connecting audio…");
      await media.listen(creds, $("audio"), audioLost);
      say("Listening.");
    }
    retry = 0;
  } catch (error) {
    say(`Audio could not start: ${error.message || error}. Retrying…`);
    audioLost();
  }
}

// The media server went away (or refused us): try again with fresh credentials, with backoff.
let retry = 0;
function audioLost() {
  if (!state.listening || state.space?.state !== "live") return;
  say("Audio interrupted; reconnecting…");
  const delay = Math.min(15000, 1000 * 2 ** retry++);
  setTimeout(async () => {
    try {
      await startMedia(await credentials());
    } catch {
      audioLost();
    }
  }, delay);
}

async function followRole(role, previous) {
  if (!state.listening) return;
  const wasSpeaking = previous && previous !== "listener";
  const speaking = role !== "listener";
  if (wasSpeaking !== speaking) await startMedia(await credentials());
}

// --- actions ----------------------------------------------------------------------------------

const setRole = (person, role) => api("PATCH", `participants/${person.id}/`, { role });
const decline = async (person) => {
  // Declining is moving them (still a listener) back to listener: it lowers the hand.
  await api("PATCH", `participants/${person.id}/`, { role: "listener" });
  state.hands.delete(person.id);
  render();
};

async function remove(person, block) {
  const what = block ? `Remove ${person.name} and stop them from coming back?` : `Remove ${person.name} from the Space?`;
  if (window.confirm(what)) await api("POST", `participants/${person.id}/remove/`, { block });
}

function float(emoji) {
  const node = el("span", { class: "floating", "aria-hidden": "true" }, emoji);
  document.body.append(node);
  setTimeout(() => node.remove(), 2100);
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

const socket = new SpaceSocket(code, {
  onSnapshot: applySnapshot,
  onEvent: applyEvent,
  onStatus: (status, closeCode) => {
    $("offline").hidden = status === "open" || closeCode === 4003 || closeCode === 4004;
  },
});

$("listen").addEventListener("click", () => listen().catch(() => {}));
$("leave").addEventListener("click", async () => {
  await media.stop();
  await api("POST", "leave/").catch(() => {});
  socket.close();
  window.location.href = "/";
});
$("mic").addEventListener("click", () => {
  const muted = $("mic").getAttribute("aria-pressed") !== "true";
  media.setMuted(muted);
  $("mic").setAttribute("aria-pressed", String(muted));
  $("mic").textContent = muted ? "Unmute my mic" : "Mute my mic";
});
$("hand")?.addEventListener("click", () => api(state.me?.hand_raised ? "DELETE" : "POST", "hand/").catch(() => {}));
$("quiet")?.addEventListener("change", (event) => socket.reopen(event.target.checked ? "?quiet=1" : ""));
$("end-space").addEventListener("click", async () => {
  if (window.confirm("End this Space for everyone?")) await api("POST", "end/").catch(() => {});
});
$("remind")?.addEventListener("click", async (event) => {
  const on = event.target.getAttribute("aria-pressed") === "true";
  await api(on ? "DELETE" : "POST", "reminder/").catch(() => null);
  event.target.setAttribute("aria-pressed", String(!on));
  event.target.textContent = on ? "Remind me" : "Reminder set ✓";
  event.target.classList.toggle("secondary", !on);
});
for (const button of document.querySelectorAll("[data-emoji]")) {
  button.addEventListener("click", () => socket.send({ type: "reaction", emoji: button.dataset.emoji }));
}
for (const button of document.querySelectorAll("[data-share]")) button.addEventListener("click", share);
$("delete-replay")?.addEventListener("click", async () => {
  if (!window.confirm("Delete the replay for good?")) return;
  await api("DELETE", "replay/").catch(() => null);
  window.location.reload();
});
countdown();
window.spacesRoom = { state, socket };
