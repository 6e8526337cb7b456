// What the page shows, derived from the room's state (state.js): pure functions, no DOM.

import { humanLength } from "./length.js";

export const ROLE_NAMES = { host: "Host", cohost: "Co-host", speaker: "Speaker", listener: "Listener" };

const ROLE_ORDER = { host: 0, cohost: 1, speaker: 2, listener: 3 };
const time = (p) => (p.joined_at ? Date.parse(p.joined_at) || 0 : 0);

/** Host, co-hosts, speakers; each group by when they joined. */
export function stageSorted(state) {
  return [...state.stage].sort((a, b) => (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9) || time(a) - time(b));
}

/** Listeners, newest first. */
export function listenersSorted(state) {
  return [...state.listeners].sort((a, b) => time(b) - time(a));
}

export const handsQueue = (state) => state.hands || [];
export const isLive = (state) => state.space?.state === "live";

/** "12 min 5 s": how long a Space ran, as the server's end screen writes it; null before it ended. */
export function duration(space) {
  const ms = Date.parse(space?.ended_at) - Date.parse(space?.started_at);
  if (Number.isNaN(ms) || ms < 0) return null;
  return humanLength(ms / 1000);
}

/** The end screen's sentence: length and peak audience. */
export function overSummary(space) {
  if (space?.state !== "ended") return null;
  const length = duration(space);
  if (!length) return null;
  const peak = space.peak_listeners ?? 0;
  return `It ran for ${length} with a peak of ${peak} listener${peak === 1 ? "" : "s"}.`;
}
