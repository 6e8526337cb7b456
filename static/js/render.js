// The live room's DOM: draws the state (see state.js) into the share page's elements. It decides
// nothing: the actions offered are the ones state.js looked up in the server's `can`.
import { may, menuFor, viewerMay } from "./actions.js";
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
  const pill = $("state-pill");
  const state = name === "removed" ? "ended" : name;
  pill.className = `pill ${state}`;
  pill.textContent = state[0].toUpperCase() + state.slice(1);
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

function tile(state, person, openId, onAction) {
  const classes = state.speaking.includes(person.id) ? "person speaking" : "person";
  return el(
    "li", { class: classes, "data-id": person.id },
    el("span", { class: "avatar", "aria-hidden": "true" }, (person.name || "?")[0].toUpperCase()),
    person.muted ? el("span", { class: "mic-off", title: "Muted", "aria-label": "muted" }, "🔇") : null,
    el("span", { class: "name" }, person.name + you(state, person)),
    el("span", { class: "role" }, ROLE_NAMES[person.role] || person.role),
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

/** Draw the whole room. `view.mic`: show the mic toggle (this page publishes audio). */
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
    hand.textContent = raised ? "✋ Withdraw request" : "✋ Request to speak";
  }
  $("mic").hidden = !view.mic;
  if (focused && openId) document.querySelector(`details[data-for="${CSS.escape(openId)}"] summary`)?.focus();
}

/** A talking ring on or off, without redrawing the room. */
export function markSpeaking(id, talking) {
  for (const node of document.querySelectorAll(`.person[data-id="${CSS.escape(String(id))}"]`)) {
    node.classList.toggle("speaking", talking);
  }
}

export function feed(text) {
  const list = $("feed");
  list.prepend(el("li", {}, text));
  while (list.children.length > 50) list.lastChild.remove();
}

/** The media status line, under the stage. */
export function say(text) {
  $("media-status").textContent = text;
}

// An alert at the top of the page, whatever view is showing (errors from actions, mostly).
let noticeTimer = null;
export function notice(text) {
  const node = $("notice");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { node.hidden = true; }, 8000);
}

export function float(emoji) {
  const node = el("span", { class: "floating", "aria-hidden": "true" }, emoji);
  document.body.append(node);
  setTimeout(() => node.remove(), 2100);
}
