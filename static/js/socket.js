// The websocket of a Space: reconnects with backoff and hands every frame to `onFrame`. It keeps
// no state: the room's state (static/js/state.js) checks seq and says when to `resync()`; a
// reconnect starts from the fresh snapshot the server always sends first.

export class SpaceSocket {
  constructor(code, { onFrame, onStatus, params = "" }) {
    this.code = code;
    this.params = params;
    this.handlers = { onFrame, onStatus };
    this.attempt = 0;
    this.closedByUs = false;
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws/spaces/${encodeURIComponent(this.code)}/${this.params}`;
  }

  connect() {
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.handlers.onStatus?.("open");
    });
    ws.addEventListener("message", (message) => {
      if (ws === this.ws) this.receive(message.data);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return; // replaced by reopen()
      this.handlers.onStatus?.("closed", event.code);
      // 4003: removed; 4004: no such Space. Those do not come back by retrying.
      if (this.closedByUs || event.code === 4003 || event.code === 4004) return;
      const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      setTimeout(() => {
        if (!this.closedByUs && ws === this.ws) this.connect();
      }, delay);
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame && typeof frame === "object") this.handlers.onFrame(frame);
  }

  send(message) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Ask for a fresh snapshot (after a gap, or when what this viewer may do has changed). */
  resync() {
    this.send({ type: "resync" });
  }

  reopen(params) {
    this.params = params;
    const old = this.ws;
    this.connect();
    old.close();
  }

  close() {
    this.closedByUs = true;
    this.ws.close();
  }
}
