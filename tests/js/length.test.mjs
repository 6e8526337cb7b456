// How long something lasted, in words: the same cases as the server's filter (tests/test_lengths.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { humanLength } from "../../static/js/length.js";

const cases = JSON.parse(readFileSync(new URL("../length_cases.json", import.meta.url), "utf8"));

test("lengths read as words, the way the server writes them", () => {
  for (const [seconds, words] of cases) assert.equal(humanLength(seconds), words, `${seconds} s`);
});

test("nonsense reads as nothing long", () => {
  assert.equal(humanLength(undefined), "0 seconds");
  assert.equal(humanLength("abc"), "0 seconds");
});
