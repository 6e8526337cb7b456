// The live room's DOM: draws the state (see state.js) into the share page's elements. It decides
// nothing: the actions offered are the ones state.js looked up in the server's `can`.
import { may, menuFor, viewerMay } from "./actions.js";
import { localizeText } from "./localtime.js";
import { renderTools } from "./tools.js";
import { ROLE_NAMES, handsQueue, isLive, listenersSorted, stageSorted } from "./views.js";

const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const OVER_TITLES = {
  cancelled: "This Space was cancelled",
  missed: "This Space did not start",
  ended: "This Space has ended",
  removed: "You were removed from this Space",
};

/** Show the sections of one view of the page: scheduled, live, or over (ended and the rest). */
export function showView(root, name) {
  if (root.dataset.state === name) return;
  root.dataset.state = name;
  for (const section of root.querySelectorAll("[data-when]")) {
    const when = section.dataset.when;
    section.hidden = !(when === name || (when === "ended" && !["live", "scheduled"].includes(name)));
  }
  // A removed person is told so: the Space itself goes on without them.
  const pill = $("state-pill");
  pill.className = `pill ${name === "removed" ? "removed" : name}`;
  pill.textContent = name[0].toUpperCase() + name.slice(1);
  if (OVER_TITLES[name] && $("over-title")) $("over-title").textContent = OVER_TITLES[name];
}

function viewName(state) {
  if (state.removed) return "removed";
  return state.space?.state ?? null;
}

// Frames re-render the lists (a busy room sends one a second): an action menu that is open stays
// open, with the focus on its button.
function menu(state, person, openId, onAction) {
  const items = menuFor(state, person);
  if (!items.length) return null;
  const keepOpen = openId === person.id ? { open: "" } : {};
  return el(
    "details", { "data-for": person.id, ...keepOpen },
    el("summary", { "aria-label": `Actions for ${person.name}` }, "⋯"),
    el("div", { class: "menu" }, ...items.map(({ action, label }) => el("button", {
      type: "button", class: "secondary small", "data-action": action,
      onclick: (event) => {
        event.currentTarget.closest("details").open = false;
        onAction(action, person);
      },
    }, label))),
  );
}

const you = (state, person) => (state.me && person.id === state.me.id ? " (you)" : "");

// Everyone sees each speaker's microphone (muted by the host, muted by themself, or on) and who
// is talking now; the two mutes look different and say which they are.
function micBadge(person) {
  if (person.muted) return el("span", { class: "mic mic-off", title: "Muted by the host", role: "img", "aria-label": "muted by the host" }, "🔇");
  if (person.self_muted) return el("span", { class: "mic mic-self", title: "Muted", role: "img", "aria-label": "muted" }, "🔇");
  return el("span", { class: "mic mic-on", title: "Microphone on", role: "img", "aria-label": "microphone on" }, "🎙");
}

const micWord = (person) => (person.muted ? "muted by host" : person.self_muted ? "muted" : "");

function tile(state, person, openId, onAction) {
  // A muted microphone is silent in the mix, whatever the media server last said about it.
  const talking = state.speaking.includes(person.id) && !person.muted && !person.self_muted;
  return el(
    "li", { class: talking ? "person speaking" : "person", "data-id": person.id, "data-mic": micWord(person) },
    el("span", { class: "avatar", "aria-hidden": "true" }, (person.name || "?")[0].toUpperCase()),
    micBadge(person),
    el("span", { class: "name" }, person.name + you(state, person)),
    el("span", { class: "role" }, ROLE_NAMES[person.role] || person.role),
    el("span", { class: "talking" }, talking ? "speaking" : micWord(person)),
    menu(state, person, openId, onAction),
  );
}

function chip(state, person, openId, onAction) {
  const node = el("li", { "data-id": person.id }, person.name + you(state, person));
  const controls = menu(state, person, openId, onAction);
  if (controls) node.append(" ", controls);
  return node;
}

function handRow(state, person, onAction) {
  const button = (action, label, classes) => (may(state, person, action)
    ? el("button", { type: "button", class: classes, "data-action": action, onclick: () => onAction(action, person) }, label)
    : null);
  return el(
    "li", { "data-id": person.id },
    el("span", {}, `✋ ${person.name}`),
    el("span", { class: "actions", style: "margin: 0" },
      button("invite_to_speak", "Accept", "small"),
      button("decline", "Decline", "small secondary")),
  );
}

/** Draw the whole room. `view`: this page's audio (`listening`, `kind`, `blocked`, `selfMuted`). */
export function renderRoom(root, state, view, onAction) {
  const name = viewName(state);
  if (name) showView(root, name);
  if (state.space) {
    $("space-title").textContent = state.space.title;
    if ($("space-description")) $("space-description").textContent = state.space.description;
  }
  const open = document.querySelector("details[data-for][open]");
  const openId = open?.dataset.for ?? null;
  const focused = open?.contains(document.activeElement);

  $("stage").replaceChildren(...stageSorted(state).map((p) => tile(state, p, openId, onAction)));
  $("listener-count").textContent = state.count;
  $("listeners").replaceChildren(...listenersSorted(state).map((p) => chip(state, p, openId, onAction)));

  const staff = state.hands !== null && isLive(state) && !state.removed;
  $("staff-panel").hidden = !staff;
  const hands = handsQueue(state);
  $("hands").replaceChildren(
    ...(hands.length ? hands.map((p) => handRow(state, p, onAction)) : [el("li", { class: "muted" }, "No requests yet.")]),
  );

  const hand = $("hand");
  if (hand) {
    const raised = Boolean(state.me?.hand_raised);
    hand.hidden = !viewerMay(state, "raise_hand");
    hand.setAttribute("aria-pressed", String(raised));
    hand.textContent = raised ? "✋ Request sent · Cancel" : "✋ Request to speak";
    hand.setAttribute("aria-label", raised ? "Request sent. Cancel your request to speak" : "Request to speak");
  }
  renderAudioControls(state, view);
  renderTools(state);
  if (focused && openId) document.querySelector(`details[data-for="${CSS.escape(openId)}"] summary`)?.focus();
}

// One mic toggle that says the true state; the Listen button only before audio plays (or when
// the browser wants a tap before it plays anything).
function renderAudioControls(state, view) {
  const onStage = Boolean(state.me && state.me.role !== "listener" && !state.removed);
  const listen = $("listen");
  listen.hidden = view.blocked ? false : view.listening || onStage;
  listen.textContent = view.blocked ? "▶ Tap to hear the room" : "▶ Listen";
  if ($("quiet-label")) $("quiet-label").hidden = view.listening || onStage;
  const mic = $("mic");
  mic.hidden = view.kind !== "speaker";
  const byHost = Boolean(state.me?.muted);
  const muted = byHost || view.selfMuted;
  mic.setAttribute("aria-pressed", String(muted));
  mic.setAttribute("aria-disabled", String(byHost));
  mic.classList.toggle("secondary", muted);
  mic.textContent = byHost ? "🔇 Muted by host" : muted ? "🔇 Unmute my mic" : "🎙 Mute my mic";
}

/** A talking ring on or off, without redrawing the room. */
export function markSpeaking(id, talking) {
  for (const node of document.querySelectorAll(`.person[data-id="${CSS.escape(String(id))}"]`)) {
    const heard = talking && !node.dataset.mic; // muted (by the host or themself): never "speaking"
    node.classList.toggle("speaking", heard);
    const label = node.querySelector(".talking");
    if (label) label.textContent = heard ? "speaking" : node.dataset.mic || "";
  }
}

export function feed(text) {
  const list = $("feed");
  list.prepend(el("li", {}, text));
  while (list.children.length > 50) list.lastChild.remove();
}

/** The audio status line under the stage: what this page's audio is doing, and nothing else. */
export function say(text) {
  $("media-status").textContent = text;
}

/** A short message beside what it is about (`where`: "dock", "share"); several stack up. */
export function toast(text, where = "dock") {
  const list = $(`toasts-${where}`);
  if (!list) return;
  const item = el("li", {}, localizeText(text));
  list.append(item);
  while (list.children.length > 3) list.firstChild.remove();
  setTimeout(() => item.remove(), 6000);
}

// Alerts at the top of the page, whatever view is showing (errors from actions, mostly): each
// stays its own line for a while, times in the viewer's zone.
export function notice(text) {
  const list = $("notice");
  const item = el("li", {}, localizeText(text));
  list.append(item);
  while (list.children.length > 3) list.firstChild.remove();
  list.hidden = false;
  setTimeout(() => {
    item.remove();
    list.hidden = list.children.length === 0;
  }, 10000);
}

const calm = () => window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;

export function float(emoji) {
  const node = el("span", { class: calm() ? "floating still" : "floating", "aria-hidden": "true" }, emoji);
  document.body.append(node);
  setTimeout(() => node.remove(), 2100);
}
