// What this viewer may do, looked up in what the server said (the snapshot's `can` and `me.can`),
// and what each action sends to the REST API. Pure: no DOM, no fetch. No permission rule lives
// here: a kind or action the server did not list is simply not offered.
import { trimmedForSeats } from "./seats.js";
import { isMe } from "./state.js";

// The menu's actions, in the order they are shown. `decline` is not in the menu: the queue of
// raised hands offers it (with `invite_to_speak` as "Accept").
export const MENU_ACTIONS = ["invite_to_speak", "move_to_listeners", "mute", "make_cohost", "remove_cohost", "remove", "block"];
const ACTION_ORDER = [...MENU_ACTIONS, "decline"];
const LABELS = {
  invite_to_speak: "Invite to speak",
  move_to_listeners: "Move to listeners",
  make_cohost: "Make co-host",
  remove_cohost: "Remove co-host",
  remove: "Remove",
  block: "Remove and block",
  decline: "Decline",
};

/** One of the viewer's own actions ("raise_hand", "leave"), as the snapshot's `me.can` lists. */
export const viewerMay = (state, action) => state.myActions.includes(action);

/** A person's kind, the key of the snapshot's `can`: their role, or "guest" if signed out. */
export function kindOf(person) {
  return person.role === "listener" && !person.signed_in ? "guest" : person.role;
}

/** The actions this viewer may take on this person, as the server listed them, in menu order. */
export function actionsFor(state, person) {
  if (!person || isMe(state, person) || state.removed) return [];
  const kind = kindOf(person);
  const listed = state.can?.[kind];
  if (!Array.isArray(listed)) return [];
  const allowed = trimmedForSeats(state, kind, listed);
  return ACTION_ORDER.filter((action) => allowed.includes(action));
}

export const may = (state, person, action) => actionsFor(state, person).includes(action);

export function actionLabel(action, person) {
  if (action === "mute") return person.muted ? "Unmute" : "Mute";
  return LABELS[action] || action;
}

/** The menu for a person: `[{action, label}]`, empty when there is nothing to offer. */
export function menuFor(state, person) {
  return actionsFor(state, person)
    .filter((action) => MENU_ACTIONS.includes(action))
    .map((action) => ({ action, label: actionLabel(action, person) }));
}

/** The REST call an action makes (paths relative to /api/spaces/<code>/), and what to confirm. */
export function actionRequest(action, person) {
  const patch = (body) => ({ method: "PATCH", path: `participants/${person.id}/`, body, confirm: null });
  switch (action) {
    case "invite_to_speak":
    case "remove_cohost":
      return patch({ role: "speaker" });
    case "move_to_listeners":
    case "decline":
      return patch({ role: "listener" });
    case "make_cohost":
      return patch({ role: "cohost" });
    case "mute":
      return patch({ muted: !person.muted });
    case "remove":
    case "block": {
      const block = action === "block";
      return {
        method: "POST", path: `participants/${person.id}/remove/`, body: { block },
        confirm: block ? `Remove ${person.name} and stop them from coming back?` : `Remove ${person.name} from the Space?`,
      };
    }
    default:
      return null;
  }
}
