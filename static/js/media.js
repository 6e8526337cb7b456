// Audio through Janus, with Janus's official janus.js (loaded as a classic script: window.Janus).
// listen(): watch the Space's Streaming mountpoint (one encoded mix for every listener).
// speak(): join the AudioBridge with this person's token, under the id the server gave them, and
// publish the microphone. The server decides who is in the mix and who is muted; nothing sent
// from here can change that (a forged unmute is undone at once).
// A connection that is lost (Janus went away, the page was put out of the mix, or ICE failed: a
// TURN relay that went away, say) is reported once, through onLost: the page then starts again
// with fresh credentials.

let session = null;
let handle = null;
let ready = null;

function init() {
  if (!ready) ready = new Promise((resolve) => window.Janus.init({ debug: false, callback: resolve }));
  return ready;
}

// A negotiation that never finishes (a reply lost while the media server restarts, say) fails
// after this long, so the page starts again with fresh credentials instead of waiting forever.
const NEGOTIATION_TIMEOUT_MS = 12000;

function serverUrl(creds) {
  if (creds.server) return creds.server;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.hostname}:${creds.ws_port}/`;
}

function connect(creds, onLost) {
  return new Promise((resolve, reject) => {
    let connected = false;
    let reported = false;
    let abandoned = false;
    const timer = setTimeout(() => {
      abandoned = true;
      reject(new Error("the media server did not answer in time"));
    }, NEGOTIATION_TIMEOUT_MS);
    // Once per connection, and only while it is the page's current one.
    const lost = () => {
      if (reported || session !== janus) return;
      reported = true;
      onLost?.();
    };
    const janus = new window.Janus({
      server: serverUrl(creds),
      token: creds.token,
      // TURN relays (with their credentials) for networks that block UDP to Janus; none: [].
      iceServers: creds.ice_servers ?? [],
      success: () => {
        clearTimeout(timer);
        // Too late: the page has given up on this connection and is starting another.
        if (abandoned) return janus.destroy({});
        connected = true;
        resolve({ janus, lost });
      },
      error: (error) => {
        // After a successful start, an error means the media server went away (a restart, say).
        if (connected) return lost();
        clearTimeout(timer);
        reject(new Error(typeof error === "string" ? error : "media server unreachable"));
      },
    });
  });
}

function attach(janus, plugin, callbacks) {
  return new Promise((resolve, reject) => {
    janus.attach({
      plugin,
      success: resolve,
      error: (error) => reject(new Error(String(error))),
      ...callbacks,
    });
  });
}


function withDeadline(promise) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("the media server did not answer in time")), NEGOTIATION_TIMEOUT_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function play(audio, track) {
  audio.srcObject = new MediaStream([track]);
  const started = audio.play();
  if (started) started.catch(() => {});
}

export async function listen(creds, audio, onLost) {
  await init();
  const { janus, lost } = await connect(creds, onLost);
  session = janus;
  await withDeadline(new Promise((resolve, reject) => {
    attach(session, "janus.plugin.streaming", {
      iceState: (state) => state === "failed" && lost(),
      onmessage: (message, jsep) => {
        if (message.error) return reject(new Error(message.error));
        if (!jsep) return;
        handle.createAnswer({
          jsep,
          tracks: [{ type: "data" }],
          success: (answer) => handle.send({ message: { request: "start" }, jsep: answer }),
          error: (error) => reject(new Error(String(error))),
        });
      },
      onremotetrack: (track, mid, on) => {
        if (on && track.kind === "audio") {
          play(audio, track);
          resolve();
        }
      },
    }).then((h) => {
      handle = h;
      handle.send({ message: { request: "watch", id: creds.mountpoint, pin: creds.pin } });
    }, reject);
  }));
}

export async function speak(creds, audio, onLost) {
  await init();
  const { janus, lost } = await connect(creds, onLost);
  session = janus;
  await withDeadline(new Promise((resolve, reject) => {
    attach(session, "janus.plugin.audiobridge", {
      iceState: (state) => state === "failed" && lost(),
      onmessage: (message, jsep) => {
        if (message.error) return reject(new Error(message.error));
        // Put out of the mix (demoted, or by mistake): start again with fresh credentials.
        if (message.audiobridge === "event" && message.kicked === creds.participant_id) return lost();
        if (message.audiobridge === "joined" && !jsep && message.id === creds.participant_id) {
          handle.createOffer({
            tracks: [{ type: "audio", capture: true, recv: true }],
            // No "muted" here: a speaker the host muted stays muted (the server enforces it anyway).
            success: (offer) => handle.send({ message: { request: "configure" }, jsep: offer }),
            error: (error) => reject(new Error(String(error))),
          });
        }
        if (jsep) {
          handle.handleRemoteJsep({ jsep });
          resolve();
        }
      },
      onremotetrack: (track, mid, on) => {
        if (on && track.kind === "audio") play(audio, track);
      },
    }).then((h) => {
      handle = h;
      handle.send({
        message: {
          request: "join",
          room: creds.room,
          id: creds.participant_id,
          display: creds.display,
          token: creds.participant_token,
          muted: Boolean(creds.muted),
        },
      });
    }, reject);
  }));
}

export function setMuted(muted) {
  handle?.send({ message: { request: "configure", muted } });
}

export async function stop() {
  const old = session;
  session = null;
  handle = null;
  if (old) await new Promise((resolve) => old.destroy({ success: resolve, error: resolve }));
}
