// Frames as the server sends them (docs/REALTIME.md), for the state module's tests.

export const HOST_CAN = {
  host: [],
  cohost: ["mute", "remove_cohost", "remove", "block"],
  speaker: ["mute", "move_to_listeners", "make_cohost", "remove", "block"],
  listener: ["invite_to_speak", "decline", "make_cohost", "remove", "block"],
  guest: ["remove", "block"],
};

export const LISTENER_CAN = { host: [], cohost: [], speaker: [], listener: [], guest: [] };

let minute = 0;

/** A participant in the one wire shape; `overrides` replace any field. */
export function person(id, role = "listener", overrides = {}) {
  minute += 1;
  return {
    id,
    name: id,
    role,
    muted: false,
    signed_in: true,
    present: true,
    hand_raised: false,
    joined_at: `2026-03-01T18:${String(minute % 60).padStart(2, "0")}:00Z`,
    ...overrides,
  };
}

export function space(overrides = {}) {
  return {
    code: "abc123",
    title: "Friday jam",
    description: "",
    state: "live",
    host: { username: "ada" },
    record: false,
    scheduled_for: null,
    started_at: "2026-03-01T18:00:00Z",
    ended_at: null,
    share_url: "http://testserver/s/abc123/",
    listener_count: 2,
    peak_listeners: 3,
    speakers: [],
    replay_url: "",
    ...overrides,
  };
}

export const ada = person("ada", "host", { joined_at: "2026-03-01T17:59:00Z" });
export const bo = person("bo", "speaker", { joined_at: "2026-03-01T18:01:00Z" });
export const cy = person("cy", "cohost", { joined_at: "2026-03-01T18:02:00Z" });
export const dee = person("dee", "listener", { joined_at: "2026-03-01T18:03:00Z", hand_raised: true });
export const guest = person("Listener 4821", "listener", { signed_in: false, joined_at: "2026-03-01T18:04:00Z" });

/** The host's snapshot at `seq`: stage ada, bo, cy; listeners dee and a guest; dee's hand up. */
export function hostSnapshot(overrides = {}) {
  return {
    type: "snapshot",
    seq: 10,
    data: {
      space: space(),
      stage: [bo, ada, cy],
      listeners: [guest, dee],
      listener_count: 2,
      hands: [dee],
      me: { ...ada, quiet: false, can: ["leave"] },
      can: HOST_CAN,
      ...overrides,
    },
  };
}

/** A signed-in listener's snapshot (dee): no hands, no actions on others. */
export function listenerSnapshot(overrides = {}) {
  return hostSnapshot({ hands: undefined, me: { ...dee, quiet: false, can: ["raise_hand", "leave"] }, can: LISTENER_CAN, ...overrides });
}

export const delta = (type, seq, data) => ({ type, seq, at: "2026-03-01T18:30:00Z", data });

/** Freeze deeply, so that a test fails if a function changes the state it was given. */
export function frozen(value) {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) frozen(inner);
  }
  return value;
}
