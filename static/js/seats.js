// Seats on the stage and among the co-hosts, for the host's menus. The snapshot's `can` is for the
// moment it was taken (docs/REALTIME.md): with the stage full (`stage_limit`) nobody is invited up,
// with every co-host seat taken (`cohost_limit`) nobody is appointed. The page applies the same two
// rules itself as the stage fills, and when a seat frees after a snapshot that was taken full it
// asks for a fresh snapshot, so the actions the server left off come back from the server.

const STAGE_SEAT = ["invite_to_speak", "make_cohost"]; // what a listener needs a free stage seat for
const COHOST_SEAT = ["make_cohost"];

/** Which seats are all taken: `{stage, cohosts}` (false when the limits are unknown). */
export function seatsIn(stage, limits) {
  const cohosts = stage.filter((p) => p.role === "cohost").length;
  return {
    stage: Boolean(limits?.stage) && stage.length >= limits.stage,
    cohosts: Boolean(limits?.cohosts) && cohosts >= limits.cohosts,
  };
}

/** The server's actions for a person of `kind`, less those that need a seat no longer free. */
export function trimmedForSeats(state, kind, actions) {
  const full = seatsIn(state.stage, state.limits);
  const taken = [
    ...(full.stage && (kind === "listener" || kind === "guest") ? STAGE_SEAT : []),
    ...(full.cohosts ? COHOST_SEAT : []),
  ];
  return actions.filter((action) => !taken.includes(action));
}

/** A seat that was full when the snapshot came is free now (for a viewer with actions on others). */
export function seatFreed(state) {
  const before = state.fullAtSnapshot;
  if (!before || !Object.values(state.can || {}).some((list) => list.length)) return false;
  const now = seatsIn(state.stage, state.limits);
  return (before.stage && !now.stage) || (before.cohosts && !now.cohosts);
}
