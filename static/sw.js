// The service worker behind browser notifications (static/js/push.js subscribes): it shows each
// reminder that arrives, one per Space (a newer one replaces the older), and a click opens the
// Space on the origin this app is served from.

self.addEventListener("push", (event) => {
  let data;
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Spaces", {
      body: data.body || "",
      tag: data.tag || undefined,
      renotify: Boolean(data.tag),
      data: { url: data.url || "/" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  let target;
  try {
    const given = new URL(event.notification.data?.url || "/", self.location.origin);
    target = new URL(given.pathname + given.search, self.location.origin).href;
  } catch {
    target = new URL("/", self.location.origin).href;
  }
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((open) => {
      const tab = open.find((client) => client.url === target && "focus" in client);
      return tab ? tab.focus() : self.clients.openWindow(target);
    }),
  );
});
