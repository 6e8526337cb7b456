// The live room's state module: a snapshot, then deltas; gaps; private and ephemeral frames;
// applying a frame again. Run with `node --test tests/js/`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  applyFrame, initialState, listenersSorted, stageSorted, withMe, withSpeaking,
} from "../../static/js/state.js";
import {
  ada, bo, cy, dee, delta, frozen, guest, hostSnapshot, listenerSnapshot, person, space,
} from "./fixtures.mjs";

/** Apply frames one after the other from a fresh state; returns the last result. */
function run(...frames) {
  let result = { state: initialState() };
  for (const frame of frames) result = applyFrame(frozen(result.state), frozen(structuredClone(frame)));
  return result;
}

const ids = (list) => list.map((p) => p.id);

describe("snapshot", () => {
  test("replaces the whole state", () => {
    const { state, status, resync, effects } = run(hostSnapshot());
    assert.equal(status, "snapshot");
    assert.equal(resync, false);
    assert.deepEqual(effects, []);
    assert.equal(state.seq, 10);
    assert.equal(state.space.title, "Friday jam");
    assert.deepEqual(ids(state.stage), ["bo", "ada", "cy"]);
    assert.deepEqual(ids(state.listeners), ["Listener 4821", "dee"]);
    assert.equal(state.count, 2);
    assert.deepEqual(ids(state.hands), ["dee"]);
    assert.deepEqual(state.me, ada);
    assert.deepEqual(state.myActions, ["leave"]);
    assert.equal(state.quiet, false);
    assert.deepEqual(Object.keys(state.can), ["host", "cohost", "speaker", "listener", "guest"]);
  });

  test("without hands (not staff), without can (older server), without me (no participant)", () => {
    const { state } = run(hostSnapshot({ hands: undefined, can: undefined, me: null }));
    assert.equal(state.hands, null);
    assert.deepEqual(state.can, {});
    assert.equal(state.me, null);
    assert.deepEqual(state.myActions, []);
  });

  test("keeps fields it does not know", () => {
    const { state } = run(hostSnapshot({ stage: [{ ...bo, pronouns: "they" }], space: space({ topic: "jazz" }) }));
    assert.equal(state.stage[0].pronouns, "they");
    assert.equal(state.space.topic, "jazz");
  });

  test("a later snapshot replaces everything, and ends a wait for one", () => {
    const gap = run(hostSnapshot(), delta("listeners.count", 13, { count: 9 }));
    assert.equal(gap.state.resyncing, true);
    const after = applyFrame(gap.state, { ...hostSnapshot({ listener_count: 7 }), seq: 20 });
    assert.equal(after.state.seq, 20);
    assert.equal(after.state.count, 7);
    assert.equal(after.state.resyncing, false);
  });
});

describe("deltas", () => {
  test("participant.joined: a listener among the listeners, a speaker on the stage", () => {
    const eve = person("eve");
    const { state, status, effects } = run(hostSnapshot(), delta("participant.joined", 11, { participant: eve }));
    assert.equal(status, "applied");
    assert.equal(state.seq, 11);
    assert.ok(ids(state.listeners).includes("eve"));
    assert.deepEqual(effects, [{ type: "feed", text: "eve joined" }]);
    const back = run(hostSnapshot(), delta("participant.joined", 11, { participant: { ...bo, muted: true } }));
    assert.equal(back.state.stage.find((p) => p.id === "bo").muted, true);
  });

  test("participant.left: listeners go, the host keeps the seat, a speaker gives it back", () => {
    let result = run(hostSnapshot(), delta("participant.left", 11, { participant: { ...dee, present: false, hand_raised: false } }));
    assert.ok(!ids(result.state.listeners).includes("dee"));
    assert.deepEqual(result.state.hands, []);
    assert.deepEqual(result.effects, [{ type: "feed", text: "dee left" }]);
    result = applyFrame(result.state, delta("participant.left", 12, { participant: { ...ada, present: false } }));
    assert.equal(result.state.stage.find((p) => p.id === "ada").present, false);
    result = applyFrame(result.state, delta("participant.left", 13, { participant: { ...bo, role: "listener", present: false } }));
    assert.deepEqual(ids(result.state.stage), ["ada", "cy"]);
    assert.ok(!ids(result.state.listeners).includes("bo"));
  });

  test("participant.role_changed moves people and carries the count", () => {
    let result = run(hostSnapshot(), delta("participant.role_changed", 11, {
      participant: { ...dee, role: "speaker", hand_raised: false }, previous_role: "listener", count: 1,
    }));
    assert.ok(ids(result.state.stage).includes("dee"));
    assert.ok(!ids(result.state.listeners).includes("dee"));
    assert.deepEqual(result.state.hands, [], "accepted: the hand is down");
    assert.equal(result.state.count, 1);
    assert.equal(result.resync, false, "someone else's role: no resync");
    assert.deepEqual(result.effects, [{ type: "feed", text: "dee is now speaker" }]);
    result = applyFrame(result.state, delta("participant.role_changed", 12, {
      participant: { ...bo, role: "cohost" }, previous_role: "speaker", count: 1,
    }));
    assert.equal(result.state.stage.find((p) => p.id === "bo").role, "cohost");
    assert.deepEqual(result.effects, [{ type: "feed", text: "bo is now co-host" }]);
  });

  test("participant.muted", () => {
    const { state, effects } = run(hostSnapshot(), delta("participant.muted", 11, { participant: { ...bo, muted: true } }));
    assert.equal(state.stage.find((p) => p.id === "bo").muted, true);
    assert.deepEqual(effects, []);
  });

  test("participant.muted about me says so", () => {
    const snap = hostSnapshot({ me: { ...bo, quiet: false, can: ["leave"] } });
    const { state, effects } = run(snap, delta("participant.muted", 11, { participant: { ...bo, muted: true } }));
    assert.equal(state.me.muted, true);
    assert.deepEqual(effects, [{ type: "say", text: "The host muted your microphone." }]);
  });

  test("participant.removed takes them out of every list", () => {
    const gone = { ...dee, role: "listener", present: false, hand_raised: false };
    const { state, resync } = run(hostSnapshot(), delta("participant.removed", 11, { participant: gone, blocked: true, count: 1 }));
    assert.ok(!ids(state.listeners).includes("dee"));
    assert.deepEqual(state.hands, []);
    assert.equal(state.count, 1);
    assert.equal(state.removed, false);
    assert.equal(resync, false);
    const speaker = run(hostSnapshot(), delta("participant.removed", 11, { participant: { ...bo, role: "listener", present: false }, count: 2 }));
    assert.deepEqual(ids(speaker.state.stage), ["ada", "cy"]);
  });

  test("participant.batch: joins and leaves of a big room", () => {
    const [eve, fay] = [person("eve"), person("fay", "listener", { signed_in: false })];
    const { state, effects } = run(hostSnapshot(), delta("participant.batch", 11, {
      joined: [eve, fay], left: [{ ...guest, present: false }], joined_count: 40, left_count: 3, count: 139,
    }));
    assert.deepEqual(ids(state.listeners).sort(), ["dee", "eve", "fay"]);
    assert.equal(state.count, 139);
    assert.deepEqual(effects, [{ type: "feed", text: "40 joined, 3 left" }]);
  });

  test("listeners.count", () => {
    const { state, effects } = run(hostSnapshot(), delta("listeners.count", 11, { count: 57 }));
    assert.equal(state.count, 57);
    assert.deepEqual(effects, []);
  });

  test("space.updated, space.started, space.ended", () => {
    let result = run(hostSnapshot(), delta("space.updated", 11, space({ title: "Saturday jam" })));
    assert.equal(result.state.space.title, "Saturday jam");
    result = run(
      { ...hostSnapshot({ space: space({ state: "scheduled" }), stage: [], listeners: [] }) },
      delta("space.started", 11, space()),
    );
    assert.equal(result.state.space.state, "live");
    assert.deepEqual(result.effects, [{ type: "feed", text: "The Space is live." }]);
    result = run(hostSnapshot(), delta("space.ended", 11, { ...space({ state: "ended", ended_at: "2026-03-01T19:00:00Z" }), reason: "host" }));
    assert.equal(result.state.space.state, "ended");
    assert.equal(result.state.space.reason, "host");
    assert.deepEqual(result.effects, [{ type: "over" }]);
    for (const type of ["space.cancelled", "space.missed"]) {
      const over = run(hostSnapshot(), delta(type, 11, space({ state: type.slice(6) })));
      assert.deepEqual(over.effects, [{ type: "over" }]);
    }
  });

  test("an unknown delta type moves seq and changes nothing else", () => {
    const before = run(hostSnapshot()).state;
    const { state, status } = applyFrame(before, delta("poll.opened", 11, { question: "?" }));
    assert.equal(status, "applied");
    assert.deepEqual({ ...state, seq: 10 }, before);
  });

  test("the state given is never changed", () => {
    // run() freezes every state and frame: a mutation would throw in strict mode.
    run(
      hostSnapshot(),
      delta("participant.joined", 11, { participant: person("eve") }),
      delta("participant.role_changed", 12, { participant: { ...dee, role: "speaker" }, previous_role: "listener", count: 1 }),
      delta("participant.removed", 13, { participant: { ...bo, role: "listener", present: false }, count: 2 }),
      { type: "hand.raised", seq: 13, private: true, data: { participant: { ...guest, hand_raised: true } } },
    );
  });
});

describe("sequence numbers", () => {
  test("a gap is reported once, and nothing is applied until the snapshot", () => {
    const start = run(hostSnapshot()).state;
    const first = applyFrame(start, delta("participant.joined", 12, { participant: person("eve") }));
    assert.equal(first.status, "gap");
    assert.equal(first.resync, true);
    assert.deepEqual({ ...first.state, resyncing: false }, start, "nothing applied");
    const second = applyFrame(first.state, delta("listeners.count", 13, { count: 3 }));
    assert.equal(second.status, "gap");
    assert.equal(second.resync, false, "already asked for a snapshot");
    assert.equal(second.state.count, 2);
    const snap = applyFrame(second.state, { ...hostSnapshot(), seq: 13 });
    const next = applyFrame(snap.state, delta("listeners.count", 14, { count: 4 }));
    assert.equal(next.status, "applied");
    assert.equal(next.state.count, 4);
  });

  test("a delta the snapshot already has is ignored", () => {
    const start = run(hostSnapshot()).state;
    for (const seq of [10, 9, 1]) {
      const { state, status, resync } = applyFrame(start, delta("listeners.count", seq, { count: 99 }));
      assert.equal(status, "stale");
      assert.equal(resync, false);
      assert.equal(state, start);
    }
  });

  test("deltas wait for the first snapshot", () => {
    const { state, status, resync } = run(delta("listeners.count", 3, { count: 5 }));
    assert.equal(status, "waiting");
    assert.equal(resync, false);
    assert.deepEqual(state, initialState());
  });

  test("a removal of me is told even when the snapshot already had it", () => {
    const snap = listenerSnapshot();
    const gone = { ...dee, present: false, hand_raised: false };
    const { state, effects, status } = run(snap, delta("participant.removed", 10, { participant: gone, count: 1 }));
    assert.equal(status, "stale");
    assert.equal(state.removed, true);
    assert.deepEqual(effects, [{ type: "removed" }]);
  });
});

describe("private and ephemeral frames", () => {
  test("hand.raised and hand.lowered carry the current seq and are applied as they come", () => {
    const raised = { type: "hand.raised", seq: 10, private: true, data: { participant: { ...guest, hand_raised: true } } };
    let result = run(hostSnapshot(), raised);
    assert.equal(result.status, "unsequenced");
    assert.equal(result.state.seq, 10);
    assert.deepEqual(ids(result.state.hands), ["dee", "Listener 4821"]);
    assert.deepEqual(result.effects, [{ type: "feed", text: "Listener 4821 asked to speak" }]);
    result = applyFrame(result.state, { type: "hand.lowered", seq: 10, private: true, data: { participant: dee } });
    assert.deepEqual(ids(result.state.hands), ["Listener 4821"]);
  });

  test("a page without a queue (not staff) keeps none", () => {
    const { state } = run(listenerSnapshot(), { type: "hand.raised", seq: 10, private: true, data: { participant: guest } });
    assert.equal(state.hands, null);
  });

  test("speaking, reaction, error: seq 0, not checked", () => {
    let result = run(hostSnapshot(), { type: "speaking", seq: 0, ephemeral: true, data: { participant: "bo", talking: true } });
    assert.equal(result.status, "unsequenced");
    assert.equal(result.state.seq, 10);
    assert.deepEqual(result.state.speaking, ["bo"]);
    assert.deepEqual(result.effects, [{ type: "speaking", id: "bo", talking: true }]);
    result = applyFrame(result.state, { type: "speaking", seq: 0, ephemeral: true, data: { participant: "bo", talking: false } });
    assert.deepEqual(result.state.speaking, []);
    result = applyFrame(result.state, { type: "speaking", seq: 0, ephemeral: true, data: { participant: "bo", talking: false } });
    assert.deepEqual(result.state.speaking, [], "stopping twice");
    result = applyFrame(result.state, { type: "reaction", seq: 0, ephemeral: true, data: { emoji: "👏", by: "bo" } });
    assert.deepEqual(result.effects, [{ type: "reaction", emoji: "👏" }]);
    result = applyFrame(result.state, { type: "error", data: { code: "rate_limited", detail: "Slow down." } });
    assert.deepEqual(result.effects, [{ type: "error", code: "rate_limited", detail: "Slow down." }]);
    assert.equal(result.resync, false);
  });
});

describe("applying a change again changes nothing", () => {
  // A delta that committed while the snapshot was read is in the snapshot and arrives as the next
  // delta too; the server may also repeat a state (a rejoin, a batch naming someone twice).
  const eve = person("eve");
  const cases = {
    joined: [delta("participant.joined", 11, { participant: eve })],
    left: [delta("participant.left", 11, { participant: { ...dee, present: false, hand_raised: false } })],
    role_changed: [delta("participant.role_changed", 11, { participant: { ...dee, role: "speaker", hand_raised: false }, previous_role: "listener", count: 1 })],
    muted: [delta("participant.muted", 11, { participant: { ...bo, muted: true } })],
    removed: [delta("participant.removed", 11, { participant: { ...cy, role: "listener", present: false }, blocked: false, count: 2 })],
    batch: [delta("participant.batch", 11, { joined: [eve], left: [{ ...guest, present: false }], joined_count: 1, left_count: 1, count: 2 })],
    count: [delta("listeners.count", 11, { count: 4 })],
    space: [delta("space.updated", 11, space({ title: "New title" }))],
  };
  for (const [name, [frame]] of Object.entries(cases)) {
    test(name, () => {
      const once = run(hostSnapshot(), frame).state;
      const twice = applyFrame(once, { ...frame, seq: 12 }).state;
      assert.deepEqual({ ...twice, seq: 11 }, once);
    });
  }

  test("a delta already reflected in the snapshot", () => {
    const inSnapshot = hostSnapshot({ listeners: [eve, guest, dee], listener_count: 3 });
    const before = run(inSnapshot).state;
    const after = applyFrame(before, delta("participant.joined", 11, { participant: eve })).state;
    assert.deepEqual({ ...after, seq: 10 }, before);
  });

  test("the same hand raised twice", () => {
    const raised = { type: "hand.raised", seq: 10, private: true, data: { participant: { ...guest, hand_raised: true } } };
    const once = run(hostSnapshot(), raised).state;
    assert.deepEqual(applyFrame(once, raised).state, once);
  });
});

test("someone muted, moved off the stage or gone is no longer talking", () => {
  const talking = (...ids) => ids.map((id) => ({ type: "speaking", seq: 0, ephemeral: true, data: { participant: id, talking: true } }));
  let result = run(hostSnapshot(), ...talking("bo", "cy", "ada"));
  assert.deepEqual(result.state.speaking, ["bo", "cy", "ada"]);
  result = applyFrame(result.state, delta("participant.muted", 11, { participant: { ...bo, muted: true } }));
  result = applyFrame(result.state, delta("participant.role_changed", 12, { participant: { ...cy, role: "listener" }, previous_role: "cohost", count: 3 }));
  result = applyFrame(result.state, delta("participant.muted", 13, { participant: ada }));
  assert.deepEqual(result.state.speaking, ["ada"], "unmuted or unchanged: still talking");
  result = applyFrame(result.state, delta("participant.left", 14, { participant: { ...ada, present: false } }));
  assert.deepEqual(result.state.speaking, []);
  assert.deepEqual(withSpeaking(withSpeaking(result.state, "bo", true), "bo", false), result.state);
});

describe("changes to the viewer", () => {
  test("my role changed: forget what I may do and ask for a snapshot", () => {
    const promoted = { ...dee, role: "speaker", hand_raised: false };
    const { state, resync, effects } = run(listenerSnapshot(), delta("participant.role_changed", 11, {
      participant: promoted, previous_role: "listener", count: 1,
    }));
    assert.equal(resync, true);
    assert.deepEqual(state.me, promoted);
    assert.deepEqual(state.can, {});
    assert.deepEqual(state.myActions, []);
    assert.ok(ids(state.stage).includes("dee"));
    assert.deepEqual(effects.at(-1), { type: "my_role", role: "speaker", previous: "listener" });
    // While the snapshot is on its way, later deltas still apply in order.
    const next = applyFrame(state, delta("listeners.count", 12, { count: 5 }));
    assert.equal(next.status, "applied");
    assert.equal(next.resync, false);
  });

  test("I was removed: the page says so and asks for a snapshot", () => {
    const gone = { ...dee, present: false, hand_raised: false };
    const { state, resync, effects } = run(listenerSnapshot(), delta("participant.removed", 11, { participant: gone, count: 1 }));
    assert.equal(resync, true);
    assert.equal(state.removed, true);
    assert.deepEqual(state.myActions, []);
    assert.deepEqual(effects, [{ type: "removed" }]);
  });

  test("withMe: the viewer from an API answer, in the same shape", () => {
    const start = run(listenerSnapshot()).state;
    const raised = { ...dee, hand_raised: true };
    assert.deepEqual(withMe(start, raised).me, raised);
    assert.equal(withMe(start, { ...bo }), start, "someone else: ignored");
    assert.deepEqual(withMe(initialState(), raised).me, raised);
  });
});

describe("derived views", () => {
  test("the stage: host, co-hosts, speakers, each by when they joined", () => {
    const early = person("early", "speaker", { joined_at: "2026-03-01T17:00:00Z" });
    const state = run(hostSnapshot({ stage: [bo, early, cy, ada] })).state;
    assert.deepEqual(ids(stageSorted(state)), ["ada", "cy", "early", "bo"]);
  });

  test("listeners: newest first", () => {
    const state = run(hostSnapshot({ listeners: [dee, guest] })).state;
    assert.deepEqual(ids(listenersSorted(state)), ["Listener 4821", "dee"]);
  });
});
