// Times in the viewer's zone: the ISO and UTC times inside the server's sentences (errors most of
// all) are rewritten, and nothing else in the sentence changes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { localizeText } from "../../static/js/localtime.js";

test("a Django UTC time followed by its ISO form becomes one time in the viewer's zone", () => {
  const said = localizeText(
    "A Space can be scheduled at most 14 days ahead: the latest you can pick now is Nov. 27, 2026, 3:05 p.m. UTC (2026-11-27T15:05:00.123+00:00).",
    "Asia/Tokyo",
  );
  assert.match(said, /^A Space can be scheduled at most 14 days ahead: the latest you can pick now is .*28.*12:05.*\.$/);
  assert.doesNotMatch(said, /UTC|2026-11-27T/);
  assert.match(said, /GMT\+9/);
});

test("a Django UTC time alone is read as UTC: noon, midnight and a.m. included", () => {
  assert.match(localizeText("on Jan. 5, 2027, noon UTC (x)", "Europe/Berlin"), /on .*5.*01:00 PM GMT\+1 \(x\)/);
  assert.match(localizeText("on March 1, 2027, midnight UTC.", "Europe/Berlin"), /on .*1.*01:00 AM GMT\+1\./);
  assert.match(localizeText("on Sept. 9, 2027, 9 a.m. UTC", "America/New_York"), /on .*9.*05:00 AM EDT/);
});

test("a bare ISO time is rewritten, in the zone asked for", () => {
  assert.match(localizeText("at 2026-11-27T15:05:00Z ok", "America/New_York"), /^at .*10:05 AM EST ok$/);
});

test("a sentence without times is left alone", () => {
  const plain = "Only the host can end this Space.";
  assert.equal(localizeText(plain, "Asia/Tokyo"), plain);
  assert.equal(localizeText(undefined), undefined);
});
