// The room's clip button follows a new clip until the worker has encoded it, and gives up in time.
import assert from "node:assert/strict";
import { test } from "node:test";

import { untilEncoded } from "../../static/js/clips.js";

test("asks again while the clip is pending and returns it once ready", async () => {
  const answers = [{ state: "pending" }, { state: "pending" }, { state: "ready", seconds: 30 }];
  const asked = [];
  const clip = await untilEncoded("/api/clips/abc/", {
    fetchClip: async (path) => { asked.push(path); return answers.shift(); },
    wait: async () => {},
  });
  assert.deepEqual(clip, { state: "ready", seconds: 30 });
  assert.equal(asked.length, 3);
});

test("a failed clip ends the wait at once", async () => {
  let calls = 0;
  const clip = await untilEncoded("/x/", { fetchClip: async () => { calls += 1; return { state: "failed" }; }, wait: async () => {} });
  assert.equal(clip.state, "failed");
  assert.equal(calls, 1);
});
