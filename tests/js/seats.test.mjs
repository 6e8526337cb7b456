// The host's menus follow the stage live: a full stage takes "Invite to speak" off at once, and a
// seat freed after a snapshot taken full calls for a fresh snapshot (the server's lists come back).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { actionsFor } from "../../static/js/actions.js";
import { applyFrame, initialState } from "../../static/js/state.js";
import { HOST_CAN, bo, dee, delta, hostSnapshot, person } from "./fixtures.mjs";

const LISTENER_WHEN_FULL = HOST_CAN.listener.filter((a) => !["invite_to_speak", "make_cohost"].includes(a));

describe("seats", () => {
  test("a stage that fills takes invites off a listener's menu without asking the server", () => {
    let { state } = applyFrame(initialState(), hostSnapshot({ stage_limit: 4, cohost_limit: 2 }));
    assert.ok(actionsFor(state, dee).includes("invite_to_speak"));
    const eve = person("eve", "speaker");
    const result = applyFrame(state, delta("participant.role_changed", 11, { participant: eve, previous_role: "listener", count: 1 }));
    state = result.state;
    assert.equal(result.resync, false);
    assert.deepEqual(actionsFor(state, dee), ["remove", "block", "decline"]);
    assert.ok(actionsFor(state, bo).includes("make_cohost")); // on stage already: needs no new seat
  });

  test("a seat freed after a snapshot taken full asks for a fresh snapshot", () => {
    const full = hostSnapshot({ stage_limit: 3, cohost_limit: 2, can: { ...HOST_CAN, listener: LISTENER_WHEN_FULL } });
    let { state } = applyFrame(initialState(), full);
    assert.ok(!actionsFor(state, dee).includes("invite_to_speak"));
    const result = applyFrame(state, delta("participant.role_changed", 11, { participant: { ...bo, role: "listener" }, previous_role: "speaker", count: 3 }));
    assert.equal(result.resync, true);
  });

  test("a self-mute is applied to the person, and they are no longer shown talking", () => {
    let { state } = applyFrame(initialState(), hostSnapshot({ speaking: ["bo"] }));
    state = applyFrame(state, delta("participant.self_muted", 11, { participant: { ...bo, self_muted: true } })).state;
    assert.equal(state.stage.find((p) => p.id === "bo").self_muted, true);
    assert.deepEqual(state.speaking, []);
  });
});
