// Browser notifications (Web Push) for reminders: subscribe this browser, or stop. The browser
// asks the person for permission only from a gesture of theirs (call pushSubscribe from a click:
// the profile page's button, or "Remind me"); sw.js shows what arrives and opens the Space.

const WORKER = "/static/sw.js";

export class PushError extends Error {}

function csrf() {
  return document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1] ?? "";
}

async function request(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new PushError("Could not reach Spaces; check your connection and try again.");
  }
  const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (!response.ok) throw new PushError(data.detail || "That did not work; try again.");
  return data;
}

/** A VAPID public key (base64url) as the bytes PushManager.subscribe wants. */
export function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function sameKey(subscription, key) {
  const given = subscription.options?.applicationServerKey;
  if (!given) return true;
  const a = new Uint8Array(given);
  return a.length === key.length && a.every((byte, i) => byte === key[i]);
}

export function pushSupported() {
  return typeof window !== "undefined" && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

async function registration() {
  const reg = await navigator.serviceWorker.register(WORKER);
  const worker = reg.installing || reg.waiting || reg.active;
  if (worker && worker.state !== "activated") {
    // The worker's scope is /static/, not this page's: `serviceWorker.ready` would never settle.
    await new Promise((resolve) => {
      worker.addEventListener("statechange", () => worker.state === "activated" && resolve());
    });
  }
  return reg;
}

/** "unsupported", "blocked", "on" (this browser is subscribed) or "off". */
export async function pushState() {
  if (!pushSupported()) return "unsupported";
  if (Notification.permission === "denied") return "blocked";
  const reg = await navigator.serviceWorker.getRegistration(WORKER);
  const subscription = await reg?.pushManager.getSubscription();
  return subscription && Notification.permission === "granted" ? "on" : "off";
}

/** Ask for permission (from a click) and subscribe this browser to the person's notifications. */
export async function pushSubscribe() {
  if (!pushSupported()) throw new PushError("This browser cannot show notifications from websites.");
  const config = await request("GET", "/api/push/");
  if (!config.enabled) throw new PushError("Browser notifications are not set up on this server.");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    throw new PushError("Notifications are blocked for this site: allow them in the browser's site settings, then try again.");
  }
  const key = keyBytes(config.public_key);
  const reg = await registration();
  let subscription = await reg.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await request("POST", "/api/push/subscriptions/", subscription.toJSON());
  return subscription;
}

/** Stop notifications in this browser. */
export async function pushUnsubscribe() {
  if (!pushSupported()) return;
  const reg = await navigator.serviceWorker.getRegistration(WORKER);
  const subscription = await reg?.pushManager.getSubscription();
  if (!subscription) return;
  await request("POST", "/api/push/subscriptions/remove/", { endpoint: subscription.endpoint });
  await subscription.unsubscribe();
}

/** For "Remind me" (call it from the click): subscribe this browser unless the person already
 * said no or the browser cannot; resolves to the resulting state and never throws. */
export async function pushOffer() {
  try {
    if (!pushSupported() || Notification.permission === "denied") return await pushState();
    await pushSubscribe();
    return "on";
  } catch {
    return pushState().catch(() => "off");
  }
}
