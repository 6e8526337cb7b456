// The websocket client of a Space: reconnects with backoff, and resyncs whenever it may have
// missed something (a gap in seq, or a reconnect). Nothing is ever inferred from a missed frame.

export class SpaceSocket {
  constructor(code, { onSnapshot, onEvent, onStatus, params = "" }) {
    this.code = code;
    this.params = params;
    this.handlers = { onSnapshot, onEvent, onStatus };
    this.seq = null;
    this.attempt = 0;
    this.closedByUs = false;
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws/spaces/${encodeURIComponent(this.code)}/${this.params}`;
  }

  connect() {
    this.ws = new WebSocket(this.url());
    this.ws.addEventListener("open", () => {
      this.attempt = 0;
      this.handlers.onStatus?.("open");
    });
    this.ws.addEventListener("message", (message) => this.receive(message.data));
    this.ws.addEventListener("close", (event) => {
      this.handlers.onStatus?.("closed", event.code);
      // 4003: removed; 4004: no such Space. Those do not come back by retrying.
      if (this.closedByUs || event.code === 4003 || event.code === 4004) return;
      const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === "snapshot") {
      this.seq = frame.seq;
      this.handlers.onSnapshot(frame.data, frame);
      return;
    }
    if (frame.ephemeral || frame.private || frame.type === "error" || frame.type === "pong") {
      this.handlers.onEvent(frame);
      return;
    }
    if (this.seq === null || frame.seq <= this.seq) return; // already in the snapshot
    if (frame.seq > this.seq + 1) {
      this.send({ type: "resync" });
      return;
    }
    this.seq = frame.seq;
    this.handlers.onEvent(frame);
  }

  send(message) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  reopen(params) {
    this.params = params;
    this.closedByUs = true;
    this.ws.close();
    this.closedByUs = false;
    this.seq = null;
    this.connect();
  }

  close() {
    this.closedByUs = true;
    this.ws.close();
  }
}
