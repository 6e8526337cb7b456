// The live room's state module: a snapshot, then deltas; gaps; private and ephemeral frames;
// applying a frame again. Run with `node --test tests/js/`.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  HOLD_MS, MAX_HELD, RESYNC_RETRY_MS, RESYNC_SPACING_MS,
  applyFrame, initialState, nextTick, tick, withMe, withSpeaking,
} from "../../static/js/state.js";
import { listenersSorted, stageSorted } from "../../static/js/views.js";
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
    const held = run(hostSnapshot(), delta("listeners.count", 13, { count: 9 }));
    const gap = tick(held.state, Date.now() + HOLD_MS);
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
  const T = 1_000_000; // a Date.now(), in ms

  /** Apply `frames` (deltas by seq, or whole frames) at time T after a host snapshot at seq 10. */
  function after(...frames) {
    let result = { state: applyFrame(initialState(), hostSnapshot(), T).state, resync: false };
    const results = [];
    for (const frame of frames) {
      result = applyFrame(frozen(result.state), frozen(structuredClone(typeof frame === "number" ? count(frame) : frame)), T);
      results.push(result);
    }
    return { ...result, results, resyncs: results.filter((r) => r.resync).length };
  }
  const count = (seq) => delta("listeners.count", seq, { count: seq });

  test("in order: each delta applied as it comes, nothing held, no timer", () => {
    const { state, results, resyncs } = after(11, 12, 13);
    assert.deepEqual(results.map((r) => r.status), ["applied", "applied", "applied"]);
    assert.equal(state.seq, 13);
    assert.equal(state.count, 13);
    assert.equal(resyncs, 0);
    assert.deepEqual(state.held, []);
    assert.equal(nextTick(state), null);
  });

  test("an out-of-order pair is put back in order without a resync", () => {
    const eve = person("eve");
    const { state, results, resyncs, effects } = after(
      delta("listeners.count", 12, { count: 3 }), delta("participant.joined", 11, { participant: eve }), 13,
    );
    assert.deepEqual(results.map((r) => r.status), ["held", "applied", "applied"]);
    assert.equal(results[0].state.seq, 10, "the early delta waits");
    assert.equal(nextTick(results[0].state), T + HOLD_MS, "for at most HOLD_MS");
    assert.equal(results[1].state.seq, 12, "the missing one brings the held one with it");
    assert.equal(results[1].state.count, 3, "applied in seq order: the later count wins");
    assert.ok(ids(results[1].state.listeners).includes("eve"));
    assert.deepEqual(results[1].effects, [{ type: "feed", text: "eve joined" }]);
    assert.deepEqual(results[1].state.held, []);
    assert.equal(nextTick(results[1].state), null, "nothing left to wait for");
    assert.equal(state.seq, 13);
    assert.deepEqual(effects, []);
    assert.equal(resyncs, 0);
    assert.equal(tick(state, T + 10 * HOLD_MS).resync, false);
  });

  test("a seq frame at our seq changes nothing; one ahead waits HOLD_MS for the delta, then resyncs", () => {
    const quiet = after({ type: "seq", seq: 10 });
    assert.equal(quiet.results[0].status, "stale");
    assert.equal(nextTick(quiet.state), null, "nothing to wait for");
    const ahead = after({ type: "seq", seq: 11 });
    assert.equal(ahead.results[0].status, "held");
    assert.equal(ahead.state.seq, 10, "a seq frame never takes a seq itself");
    assert.equal(nextTick(ahead.state), T + HOLD_MS);
    assert.equal(tick(ahead.state, T + HOLD_MS - 1).resync, false);
    const gap = tick(ahead.state, T + HOLD_MS);
    assert.equal(gap.status, "gap");
    assert.equal(gap.resync, true);
    assert.equal(applyFrame(gap.state, { type: "seq", seq: 12 }, T + HOLD_MS + 1).resync, false, "one resync pending");
  });

  test("a seq frame ahead of us is satisfied by the delta it announced", () => {
    const { state, results, resyncs } = after({ type: "seq", seq: 11 }, 11);
    assert.deepEqual(results.map((r) => r.status), ["held", "applied"]);
    assert.equal(state.seq, 11);
    assert.equal(nextTick(state), null);
    assert.equal(tick(state, T + 10 * HOLD_MS).resync, false);
    assert.equal(resyncs, 0);
    const later = applyFrame(state, { type: "seq", seq: 12 }, T + 5000);
    assert.equal(nextTick(later.state), T + 5000 + HOLD_MS, "a new wait starts from its own seq frame");
  });

  test("a true gap: one resync after HOLD_MS, however many later deltas come", () => {
    const later = Array.from({ length: 30 }, (_, i) => 13 + i); // 12 never comes
    const { state, resyncs } = after(11, ...later);
    assert.equal(resyncs, 0, "nothing asked while the deltas are held");
    assert.equal(state.seq, 11, "nothing past the gap applied");
    assert.equal(state.count, 11);
    assert.equal(tick(state, T + HOLD_MS - 1).resync, false, "not before HOLD_MS");
    const gap = tick(state, T + HOLD_MS);
    assert.equal(gap.status, "gap");
    assert.equal(gap.resync, true);
    assert.equal(gap.state.resyncing, true);
    assert.deepEqual(gap.state.held, [], "the snapshot has them");
    let current = gap.state;
    let asked = 0;
    for (let seq = 43; seq < 80; seq += 1) {
      const result = applyFrame(current, count(seq), T + HOLD_MS + seq);
      asked += result.resync ? 1 : 0;
      current = result.state;
      asked += tick(current, T + HOLD_MS + seq).resync ? 1 : 0;
    }
    assert.equal(asked, 0, "no second request while the snapshot is on its way");
    assert.equal(current.count, 11);
    const snap = applyFrame(current, { ...hostSnapshot({ listener_count: 70 }), seq: 79 }, T + 400);
    assert.equal(snap.state.resyncing, false);
    assert.equal(applyFrame(snap.state, count(80), T + 401).status, "applied");
  });

  test("too many early deltas is lost frames, not a reordering: resync at once", () => {
    const later = Array.from({ length: MAX_HELD + 1 }, (_, i) => 13 + i);
    const { results, resyncs, state } = after(...later);
    assert.equal(resyncs, 1);
    assert.equal(results.at(-1).status, "gap");
    assert.deepEqual(state.held, []);
  });

  test("a snapshot clears the held deltas", () => {
    const { state } = after(13, 14);
    assert.equal(state.held.length, 2);
    const snap = applyFrame(state, { ...hostSnapshot({ listener_count: 5 }), seq: 12 }, T + 50);
    assert.deepEqual(snap.state.held, []);
    assert.equal(nextTick(snap.state), null, "no gap left to time");
    assert.equal(tick(snap.state, T + 10 * HOLD_MS).resync, false);
    const next = applyFrame(snap.state, count(13), T + 60);
    assert.equal(next.status, "applied");
    assert.equal(next.state.count, 13);
  });

  test("duplicates are ignored, applied or held", () => {
    const { state, results, resyncs } = after(11, 11, 13, 13, 12, 12, 13);
    assert.deepEqual(results.map((r) => r.status), ["applied", "stale", "held", "stale", "applied", "stale", "stale"]);
    assert.equal(state.seq, 13);
    assert.equal(resyncs, 0);
    assert.equal(results[3].state, results[2].state, "a duplicate of a held delta changes nothing");
  });

  test("resyncs are spaced to stay under the server's limit, and one unanswered is asked again", () => {
    const first = tick(after(12).state, T + HOLD_MS);
    assert.equal(first.resync, true);
    const snap = applyFrame(first.state, { ...hostSnapshot(), seq: 12 }, T + HOLD_MS + 20);
    assert.equal(snap.state.resyncAskedAt, T + HOLD_MS, "remembered across the snapshot");
    // Another gap right away: the request waits until RESYNC_SPACING_MS after the last one.
    const held = applyFrame(snap.state, count(14), T + HOLD_MS + 30);
    const second = tick(held.state, T + 2 * HOLD_MS + 30);
    assert.equal(second.status, "gap");
    assert.equal(second.resync, false);
    assert.equal(nextTick(second.state), T + HOLD_MS + RESYNC_SPACING_MS);
    assert.equal(tick(second.state, T + HOLD_MS + RESYNC_SPACING_MS - 1).resync, false);
    const sent = tick(second.state, T + HOLD_MS + RESYNC_SPACING_MS);
    assert.equal(sent.resync, true);
    assert.equal(sent.state.resyncDue, null);
    // No snapshot came (the request was lost): asked again, once, after RESYNC_RETRY_MS.
    const at = T + HOLD_MS + RESYNC_SPACING_MS;
    assert.equal(tick(sent.state, at + RESYNC_RETRY_MS - 1).resync, false);
    const again = tick(sent.state, at + RESYNC_RETRY_MS);
    assert.equal(again.resync, true);
    assert.equal(tick(again.state, at + RESYNC_RETRY_MS + 1).resync, false);
  });

  test("a burst of gaps never asks more than the server allows (10 in 10 s)", () => {
    let state = applyFrame(initialState(), hostSnapshot(), T).state;
    const sent = [];
    // Every delta skips one, and every snapshot comes back 5 ms after it is asked for.
    for (let now = T, seq = 10; now < T + 60_000; now += 5) {
      seq += 2;
      let result = applyFrame(state, count(seq), now);
      state = result.state;
      if (result.resync) sent.push(now);
      const due = nextTick(state);
      if (due !== null && due <= now) {
        result = tick(state, now);
        state = result.state;
        if (result.resync) sent.push(now);
      }
      if (sent.length && sent.at(-1) === now - 5) state = applyFrame(state, { ...hostSnapshot(), seq }, now).state;
    }
    assert.ok(sent.length > 20, `resyncs sent: ${sent.length}`);
    for (let i = 10; i < sent.length; i += 1) assert.ok(sent[i] - sent[i - 10] > 10_000, "11 requests within 10 s");
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

  test("a snapshot says who is talking now (someone on stage only)", () => {
    const { state } = run(hostSnapshot({ speaking: ["bo", "nobody-on-stage"] }));
    assert.deepEqual(state.speaking, ["bo"]);
    const again = applyFrame(state, { ...hostSnapshot({ speaking: [] }), seq: 11 });
    assert.deepEqual(again.state.speaking, []);
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
