// The end screen's sentence, from the Space as frames carry it.
import assert from "node:assert/strict";
import { test } from "node:test";

import { duration, overSummary } from "../../static/js/views.js";

const ended = (overrides = {}) => ({
  state: "ended", started_at: "2026-03-01T18:00:00Z", ended_at: "2026-03-01T19:02:05Z", peak_listeners: 12, ...overrides,
});

test("an ended Space says how long it ran and its peak", () => {
  assert.equal(overSummary(ended()), "It ran for 1 h 2 min with a peak of 12 listeners.");
  assert.equal(overSummary(ended({ peak_listeners: 1, ended_at: "2026-03-01T18:00:09Z" })), "It ran for 9 seconds with a peak of 1 listener.");
});

test("nothing to say before it ended, or without both times", () => {
  assert.equal(overSummary(ended({ state: "live" })), null);
  assert.equal(overSummary(ended({ ended_at: null })), null);
  assert.equal(duration({ started_at: null, ended_at: null }), null);
});
