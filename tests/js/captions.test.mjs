// Live captions in the room: lines as frames come, the status sentence, the buttons each viewer sees.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { addCaption, controls, MAX_LINES, SHOW_KEY, shownPreference, statusText, visible } from "../../static/js/captions.js";

const partial = (text, ids = ["a"]) => ({ id: null, speaker_ids: ids, name: "Ann", text, final: false });
const final = (id, text, ids = ["a"]) => ({ id, speaker_ids: ids, name: "Ann", text, final: true });

describe("addCaption", () => {
  test("a partial line grows in place, and the final line replaces it", () => {
    let lines = addCaption([], partial("welcome"));
    lines = addCaption(lines, partial("welcome to the"));
    assert.deepEqual(lines.map((l) => [l.text, l.partial]), [["welcome to the", true]]);
    lines = addCaption(lines, final(7, "welcome to the show"));
    assert.deepEqual(lines.map((l) => [l.text, l.partial, l.id]), [["welcome to the show", false, 7]]);
  });

  test("lines of other speakers stay; a final line that came twice is shown once", () => {
    let lines = addCaption([], final(1, "hello", ["a"]));
    lines = addCaption(lines, partial("hi there", ["b"]));
    lines = addCaption(lines, final(1, "hello", ["a"]));
    assert.deepEqual(lines.map((l) => l.text), ["hello", "hi there"]);
  });

  test("at most MAX_LINES, the newest kept; empty or broken data changes nothing", () => {
    let lines = [];
    for (let i = 0; i < MAX_LINES + 3; i += 1) lines = addCaption(lines, final(i, `line ${i}`));
    assert.equal(lines.length, MAX_LINES);
    assert.equal(lines.at(-1).text, `line ${MAX_LINES + 2}`);
    assert.equal(addCaption(lines, { text: "" }), lines);
    assert.equal(addCaption(lines, null), lines);
  });
});

describe("what the viewer sees", () => {
  const listener = { on: false, captioned: [], may_toggle: false, may_consent: false, consented: false };

  test("a listener sees nothing while captions are off, and the lines once they are on", () => {
    assert.equal(visible(listener), false);
    assert.equal(visible({ ...listener, on: true }), true);
    assert.deepEqual(controls(listener), { toggle: { hidden: true, text: "Turn captions on" }, consent: { hidden: true }, revoke: { hidden: true } });
    assert.equal(statusText({ ...listener, on: true, captioned: ["a", "b"] }, true), "Captions are on. 2 speakers captioned.");
    assert.equal(statusText({ ...listener, on: true }, false), "Captions are on. No speaker has agreed to be captioned yet. Hidden on this device.");
  });

  test("the host toggles; a speaker consents, then may take it back", () => {
    const host = { ...listener, may_toggle: true, may_consent: true };
    assert.equal(controls(host).toggle.hidden, false);
    assert.equal(controls({ ...host, on: true }).toggle.text, "Turn captions off");
    assert.equal(controls(host).consent.hidden, false);
    assert.equal(controls({ ...host, consented: true }).consent.hidden, true);
    assert.equal(controls({ ...host, consented: true }).revoke.hidden, false);
    assert.match(statusText(host, true), /Turn them on/);
  });

  test("the Show/Hide choice is kept in storage; shown unless hidden, and when storage fails", () => {
    const store = new Map();
    const storage = { getItem: (k) => store.get(k) ?? null };
    assert.equal(shownPreference(storage), true);
    store.set(SHOW_KEY, "0");
    assert.equal(shownPreference(storage), false);
    assert.equal(shownPreference({ getItem() { throw new Error("private mode"); } }), true);
  });
});
