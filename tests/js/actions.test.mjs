// What the viewer may do is looked up in the server's `can`, never worked out in the browser.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  actionLabel, actionRequest, actionsFor, kindOf, menuFor, viewerMay,
} from "../../static/js/actions.js";
import { applyFrame, initialState } from "../../static/js/state.js";
import { ada, bo, cy, dee, delta, guest, hostSnapshot, listenerSnapshot } from "./fixtures.mjs";

const stateOf = (frame) => applyFrame(initialState(), frame).state;
const labels = (state, person) => menuFor(state, person).map((item) => item.label);

describe("kinds", () => {
  test("a person's role, or guest for a signed-out listener", () => {
    assert.equal(kindOf(ada), "host");
    assert.equal(kindOf(cy), "cohost");
    assert.equal(kindOf(bo), "speaker");
    assert.equal(kindOf(dee), "listener");
    assert.equal(kindOf(guest), "guest");
  });
});

describe("the menu", () => {
  const host = stateOf(hostSnapshot());

  test("shows the server's actions, in a stable order, with their labels", () => {
    assert.deepEqual(labels(host, bo), ["Move to listeners", "Mute", "Make co-host", "Remove", "Remove and block"]);
    assert.deepEqual(labels(host, cy), ["Mute", "Remove co-host", "Remove", "Remove and block"]);
    assert.deepEqual(labels(host, dee), ["Invite to speak", "Make co-host", "Remove", "Remove and block"]);
    assert.deepEqual(labels(host, guest), ["Remove", "Remove and block"]);
  });

  test("the order does not depend on the order the server listed them in", () => {
    const reversed = stateOf(hostSnapshot({ can: { speaker: ["block", "remove", "make_cohost", "move_to_listeners", "mute"] } }));
    assert.deepEqual(labels(reversed, bo), labels(host, bo));
  });

  test("Mute or Unmute, from the person's state", () => {
    assert.equal(actionLabel("mute", bo), "Mute");
    assert.equal(actionLabel("mute", { ...bo, muted: true }), "Unmute");
    assert.deepEqual(labels(host, { ...bo, muted: true })[1], "Unmute");
  });

  test("decline is the hand queue's, not the menu's", () => {
    assert.ok(actionsFor(host, dee).includes("decline"));
    assert.ok(!menuFor(host, dee).some((item) => item.action === "decline"));
  });

  test("nothing on the host, nothing on myself", () => {
    assert.deepEqual(menuFor(host, ada), []);
    const cohost = stateOf(hostSnapshot({ me: { ...cy, quiet: false, can: ["leave"] } }));
    assert.deepEqual(menuFor(cohost, cy), [], "the server's list for my kind does not apply to me");
    assert.ok(menuFor(cohost, bo).length > 0);
  });

  test("a plain listener gets no menu on anyone", () => {
    const listener = stateOf(listenerSnapshot());
    for (const person of [ada, bo, cy, guest]) assert.deepEqual(menuFor(listener, person), []);
  });

  test("no can (a server without it): no actions, no local fallback", () => {
    const old = stateOf(hostSnapshot({ can: undefined }));
    for (const person of [bo, cy, dee, guest]) assert.deepEqual(actionsFor(old, person), []);
  });

  test("an action name the page does not know, or a kind the server did not list, offers nothing", () => {
    const odd = stateOf(hostSnapshot({ can: { speaker: ["mute", "launch_rocket"] } }));
    assert.deepEqual(actionsFor(odd, bo), ["mute"]);
    assert.deepEqual(actionsFor(odd, cy), []);
    assert.deepEqual(actionsFor(odd, { ...bo, role: "moderator" }), []);
  });

  test("after my own role changes, nothing until the fresh snapshot", () => {
    const demoted = applyFrame(stateOf(hostSnapshot({ me: { ...cy, quiet: false, can: ["leave"] } })),
      delta("participant.role_changed", 11, { participant: { ...cy, role: "speaker" }, previous_role: "cohost", count: 2 })).state;
    assert.deepEqual(actionsFor(demoted, dee), []);
  });
});

describe("my own actions", () => {
  test("from the snapshot's me.can", () => {
    const listener = stateOf(listenerSnapshot());
    assert.equal(viewerMay(listener, "raise_hand"), true);
    assert.equal(viewerMay(listener, "leave"), true);
    const host = stateOf(hostSnapshot());
    assert.equal(viewerMay(host, "raise_hand"), false);
    assert.equal(viewerMay(stateOf(hostSnapshot({ me: { ...dee } })), "raise_hand"), false, "no me.can: nothing");
  });
});

describe("what an action sends", () => {
  const base = `participants/${dee.id}/`;
  const cases = {
    invite_to_speak: ["PATCH", base, { role: "speaker" }],
    move_to_listeners: ["PATCH", base, { role: "listener" }],
    make_cohost: ["PATCH", base, { role: "cohost" }],
    remove_cohost: ["PATCH", base, { role: "speaker" }],
    decline: ["PATCH", base, { role: "listener" }],
    mute: ["PATCH", base, { muted: true }],
    remove: ["POST", `${base}remove/`, { block: false }],
    block: ["POST", `${base}remove/`, { block: true }],
  };
  for (const [action, [method, path, body]] of Object.entries(cases)) {
    test(action, () => {
      const request = actionRequest(action, dee);
      assert.deepEqual([request.method, request.path, request.body], [method, path, body]);
    });
  }

  test("unmute, and confirmations for removals only", () => {
    assert.deepEqual(actionRequest("mute", { ...bo, muted: true }).body, { muted: false });
    assert.equal(actionRequest("mute", bo).confirm, null);
    assert.match(actionRequest("remove", dee).confirm, /Remove dee/);
    assert.match(actionRequest("block", dee).confirm, /stop them from coming back/);
    assert.equal(actionRequest("launch_rocket", dee), null);
  });
});
