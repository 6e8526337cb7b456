// The live room's state, as pure functions: no DOM, no fetch, no websocket. `applyFrame(state,
// frame)` takes the current state and one frame from the server (a snapshot or a delta) and
// returns the new state, whether the client must ask for a fresh snapshot, and what the page
// should show or do about it (`effects`). Permissions are never computed here: the snapshot says
// which actions this viewer may take (`can`, kept as sent), and actions.js only looks them up.

import { drop, isMe, place, upsert, withSpeaking, without } from "./people.js";
import { seatFreed, seatsIn } from "./seats.js";
import { ROLE_NAMES } from "./views.js";

export { isMe, withSpeaking } from "./people.js";

// Sequence numbers (docs/REALTIME.md, "Sequence numbers and resync"). Deltas of several web
// processes can arrive out of order: one that comes early (or a `seq` frame above ours) waits this
// long for the ones before it; a seq still missing then is a gap, and one snapshot is asked for.
export const HOLD_MS = 300;
// More early deltas than this are not a reordering but lost frames: ask for a snapshot at once.
export const MAX_HELD = 100;
// The server refuses more than 10 resyncs in 10 s (rooms/consumers.py): requests are spaced.
export const RESYNC_SPACING_MS = 1100;
// A snapshot asked for that has not come (the request was lost or refused) is asked for again.
export const RESYNC_RETRY_MS = 5000;

export function initialState() {
  return {
    seq: null, // the seq of the last snapshot or delta applied; null before the first snapshot
    resyncing: false, // a fresh snapshot is needed (asked for, or due at resyncDue) and has not arrived yet
    resyncDue: null, // when a needed resync may be sent (spacing); null once sent
    resyncAskedAt: null, // when a resync was last sent (kept across snapshots)
    held: [], // deltas that came early, `{frame, at}`, by seq
    heard: null, // `{seq, at}`: a `seq` frame said the server is past our seq (a delta is missing or coming)
    space: null,
    stage: [], // host, co-hosts, speakers (present or briefly away: they keep their seat)
    listeners: [], // named, present listeners
    count: 0,
    hands: null, // the queue of raised hands; only the host's and co-hosts' snapshots have one
    me: null, // the viewer, as a participant
    quiet: false,
    can: {}, // person kind -> actions this viewer may take on such a person
    myActions: [], // the viewer's own actions: "raise_hand", "leave"
    speaking: [], // ids of the people talking now
    removed: false, // the viewer was removed from the Space
    limits: null, // `{stage, cohosts}`: how many may be on stage, and co-hosts (seats.js)
    fullAtSnapshot: null, // which of those were all taken when the snapshot was made
  };
}

// --- frames ------------------------------------------------------------------------------------

export function applySnapshot(state, frame) {
  const data = frame.data || {};
  const { quiet = false, can: myActions = [], ...me } = data.me || {};
  const stage = data.stage || [];
  return {
    ...initialState(),
    seq: frame.seq,
    space: data.space || null,
    stage,
    listeners: data.listeners || [],
    count: data.listener_count ?? 0,
    hands: Array.isArray(data.hands) ? data.hands : null,
    me: data.me ? me : null,
    quiet: Boolean(quiet),
    can: data.can || {},
    myActions: Array.isArray(myActions) ? myActions : [],
    speaking: (Array.isArray(data.speaking) ? data.speaking : state.speaking).filter((id) => stage.some((p) => p.id === id)),
    removed: state.removed, // the page of a removed person stays removed
    limits: { stage: data.stage_limit ?? null, cohosts: data.cohost_limit ?? null },
    fullAtSnapshot: seatsIn(stage, { stage: data.stage_limit, cohosts: data.cohost_limit }),
    resyncAskedAt: state.resyncAskedAt,
  };
}

// Ask for a fresh snapshot once: further requests wait for the one already asked for. A request
// soon after the previous one waits for `resyncDue` (see `tick`).
function needSnapshot(state, now) {
  if (state.resyncing) return { state, resync: false };
  const earliest = state.resyncAskedAt === null ? now : state.resyncAskedAt + RESYNC_SPACING_MS;
  if (now >= earliest) return { state: { ...state, resyncing: true, resyncDue: null, resyncAskedAt: now }, resync: true };
  return { state: { ...state, resyncing: true, resyncDue: earliest }, resync: false };
}

/**
 * Apply one frame. Returns `{state, status, resync, effects}`:
 * - status: "snapshot", "applied" (with any held deltas it completes), "held" (came early, or a
 *   `seq` frame ahead of us: waits for the deltas before it, or `tick` calls it a gap), "stale"
 *   (seq already reflected, or already held), "gap" (a delta is missing: not applied),
 *   "unsequenced" (private, ephemeral, error frames), "waiting" (no snapshot yet);
 * - resync: the client must send `{"type": "resync"}`;
 * - effects: what the page shows or does, e.g. `{type: "feed", text}`.
 * After every result, the page calls `tick(state, now)` at `nextTick(state)` (if not null).
 */
export function applyFrame(state, frame, now = Date.now()) {
  if (!frame || typeof frame.type !== "string") return { state, status: "ignored", resync: false, effects: [] };
  if (frame.type === "snapshot") return { state: applySnapshot(state, frame), status: "snapshot", resync: false, effects: [] };
  if (frame.private || frame.ephemeral || frame.type === "error" || frame.type === "pong") {
    return { ...applyChange(state, frame, now), status: "unsequenced" };
  }
  if (state.seq === null) return { state, status: "waiting", resync: false, effects: [] };
  if (frame.type === "seq") {
    // A quiet Space's heartbeat: a seq above ours is a delta missing, or still on its way.
    if (!(frame.seq > state.seq) || state.resyncing) return { state, status: "stale", resync: false, effects: [] };
    const old = state.heard !== null && state.heard.seq > state.seq ? state.heard : { seq: 0, at: now };
    return { state: { ...state, heard: { seq: Math.max(frame.seq, old.seq), at: old.at } }, status: "held", resync: false, effects: [] };
  }
  if (typeof frame.seq !== "number" || frame.seq <= state.seq) {
    // Already in the snapshot. A removal is still told to the person removed: the server sends it
    // after their snapshot whatever its seq, and nothing else in the snapshot says so.
    const person = frame.data?.participant;
    if (frame.type === "participant.removed" && isMe(state, person) && !state.removed) {
      return { state: { ...drop(state, person), me: person, removed: true }, status: "stale", resync: false, effects: [{ type: "removed" }] };
    }
    return { state, status: "stale", resync: false, effects: [] };
  }
  if (frame.seq !== state.seq + 1) {
    // A snapshot is on its way: it has this delta, or the server sends it after the snapshot.
    if (state.resyncing) return { state, status: "gap", resync: false, effects: [] };
    if (state.held.some((h) => h.frame.seq === frame.seq)) return { state, status: "stale", resync: false, effects: [] };
    const held = [...state.held, { frame, at: now }].sort((a, b) => a.frame.seq - b.frame.seq);
    if (held.length > MAX_HELD) {
      const asked = needSnapshot({ ...state, held: [] }, now);
      return { state: asked.state, status: "gap", resync: asked.resync, effects: [] };
    }
    return { state: { ...state, held }, status: "held", resync: false, effects: [] };
  }
  let { state: next, resync, effects } = applyChange({ ...state, seq: frame.seq }, frame, now);
  effects = [...effects];
  // The deltas held for this one follow it, as long as they follow on.
  while (next.held.length > 0 && next.held[0].frame.seq <= next.seq + 1) {
    const [{ frame: early }, ...rest] = next.held;
    next = { ...next, held: rest };
    if (early.seq <= next.seq) continue;
    const result = applyChange({ ...next, seq: early.seq }, early, now);
    next = result.state;
    resync = resync || result.resync;
    effects.push(...result.effects);
  }
  return { state: next, status: "applied", resync, effects };
}

/** When the page must call `tick` (a `Date.now()` time), or null when nothing is waiting. */
export function nextTick(state) {
  if (state.resyncing) {
    if (state.resyncDue !== null) return state.resyncDue;
    return state.resyncAskedAt === null ? null : state.resyncAskedAt + RESYNC_RETRY_MS;
  }
  const waits = state.held.map((h) => h.at);
  if (state.heard !== null && state.heard.seq > state.seq) waits.push(state.heard.at);
  return waits.length === 0 ? null : Math.min(...waits) + HOLD_MS;
}

/**
 * Time has passed: deltas held for `HOLD_MS` without the ones before them make a gap (one resync,
 * the held deltas dropped: the snapshot has them); a resync kept back by the spacing is sent; one
 * unanswered for `RESYNC_RETRY_MS` is sent again. Returns `{state, status, resync, effects}` like
 * `applyFrame`, with status "gap", "resync" or "idle".
 */
export function tick(state, now = Date.now()) {
  const idle = { state, status: "idle", resync: false, effects: [] };
  if (state.resyncing) {
    const due = nextTick(state);
    if (due === null || now < due) return idle;
    return { state: { ...state, resyncDue: null, resyncAskedAt: now }, status: "resync", resync: true, effects: [] };
  }
  const due = nextTick(state);
  if (due === null || now < due) return idle;
  const asked = needSnapshot({ ...state, held: [], heard: null }, now);
  return { state: asked.state, status: "gap", resync: asked.resync, effects: [] };
}

function applyChange(state, frame, now) {
  const data = frame.data || {};
  const person = data.participant && typeof data.participant === "object" ? data.participant : null;
  const mine = isMe(state, person);
  if (frame.type.startsWith("participant.") && frame.type !== "participant.batch" && !person) {
    return { state, resync: false, effects: [] }; // malformed: nothing to apply
  }
  const effects = [];
  let resync = false;
  if (typeof data.count === "number") state = { ...state, count: data.count };
  switch (frame.type) {
    case "space.started":
    case "space.updated":
      state = { ...state, space: data };
      if (frame.type === "space.started") effects.push({ type: "feed", text: "The Space is live." });
      break;
    case "space.ended":
    case "space.cancelled":
    case "space.missed":
      state = { ...state, space: data, speaking: [] };
      effects.push({ type: "over" });
      break;
    case "participant.joined":
      state = place(state, person);
      effects.push({ type: "feed", text: `${person.name} joined` });
      break;
    case "participant.left":
      state = place(state, { ...person, present: false });
      effects.push({ type: "feed", text: `${person.name} left` });
      break;
    case "participant.role_changed":
      state = place(state, person);
      effects.push({ type: "feed", text: `${person.name} is now ${(ROLE_NAMES[person.role] || person.role).toLowerCase()}` });
      if (mine) {
        // What this viewer may do depends on their own role: forget it and ask the server.
        const asked = needSnapshot({ ...state, can: {}, myActions: [] }, now);
        state = asked.state;
        resync = asked.resync;
        effects.push({ type: "my_role", role: person.role, previous: data.previous_role ?? null });
      }
      break;
    case "participant.self_muted":
      state = place(state, person);
      break;
    case "participant.muted":
      state = place(state, person);
      if (mine) effects.push({ type: "say", text: person.muted ? "The host muted your microphone." : "You can speak again." });
      break;
    case "participant.removed":
      state = drop(state, person);
      if (mine) {
        const asked = needSnapshot({ ...state, me: person, removed: true, can: {}, myActions: [] }, now);
        state = asked.state;
        resync = asked.resync;
        effects.push({ type: "removed" });
      }
      break;
    case "participant.batch":
      for (const p of data.joined || []) state = place(state, p);
      for (const p of data.left || []) state = place(state, { ...p, present: false });
      effects.push({ type: "feed", text: `${data.joined_count || 0} joined, ${data.left_count || 0} left` });
      break;
    case "hand.raised":
    case "hand.lowered":
      if (person) {
        const raised = frame.type === "hand.raised";
        if (state.hands !== null) state = { ...state, hands: raised ? upsert(state.hands, person) : without(state.hands, person.id) };
        if (mine) state = { ...state, me: person };
        if (raised) effects.push({ type: "feed", text: `${person.name} asked to speak` });
      }
      break;
    case "speaking":
      state = withSpeaking(state, data.participant, Boolean(data.talking));
      effects.push({ type: "speaking", id: data.participant, talking: Boolean(data.talking) });
      break;
    case "reaction":
      effects.push({ type: "reaction", emoji: data.emoji });
      break;
    case "error":
      effects.push({ type: "error", code: data.code, detail: data.detail });
      break;
    default:
      break;
  }
  if (!resync && !state.resyncing && seatFreed(state)) ({ state, resync } = needSnapshot(state, now));
  return { state, resync, effects };
}

/** The viewer's own participant, from an API answer (the same shape as in frames). */
export function withMe(state, person) {
  if (!person || (state.me && state.me.id !== person.id)) return state;
  return { ...state, me: person };
}
