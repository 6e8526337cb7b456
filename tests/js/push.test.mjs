// Browser notifications: the VAPID public key the server gives becomes the bytes
// PushManager.subscribe needs, and nothing is asked of the browser on import.
import assert from "node:assert/strict";
import { test } from "node:test";

import { keyBytes, pushState, pushSupported } from "../../static/js/push.js";

test("a base64url VAPID key (no padding, - and _) becomes its bytes", () => {
  // 65 bytes: an uncompressed P-256 point starts with 4.
  const key = "BEy1gtRbQhDME9v7s0Y4VL-mtNKkGU34bHR2jMSGxoLkBPANYp7FHODPz_jQhcbjB7y4D_JMJplInRSFQx4g8mE";
  const bytes = keyBytes(key);
  assert.equal(bytes.length, 65);
  assert.equal(bytes[0], 4);
  assert.equal(Buffer.from(bytes).toString("base64url"), key);
});

test("without a browser's push support it says so instead of failing", async () => {
  assert.equal(pushSupported(), false);
  assert.equal(await pushState(), "unsupported");
});
