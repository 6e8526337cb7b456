// The live room's audio for this page: joining it (pressed Listen, or on stage), starting the
// media server's stream as a speaker or a listener, asking for a tap where the browser insists,
// reconnecting with backoff when the media server goes away, following a role change, stopping.
import * as media from "./media.js";
import { withMe } from "./state.js";
import { isLive } from "./views.js";

const $ = (id) => document.getElementById(id);

/** What a speaker hears about their own microphone. */
export function speakerStatus(me) {
  if (me?.muted) return "You are on stage. The host muted your microphone.";
  return me?.self_muted ? "You are on stage. Your microphone is muted." : "You are on stage. Your microphone is live.";
}

/**
 * `room`: `api`, `getState`/`setState` (the room's state), `draw`, `say` (the audio status line),
 * `send` (a frame on the websocket), `remember` (this tab was listening). Returns the page's audio
 * (`page`: listening, starting, mediaKind, blocked) and what the room does with it.
 */
export function roomAudio(room) {
  const { api, getState, setState, draw, say, send, remember } = room;
  const page = { listening: false, starting: false, mediaKind: null, blocked: false };
  let retry = 0;

  const credentials = async () => (await api("GET", "media/")).media;

  async function listen() {
    page.starting = true;
    try {
      const joined = await api("POST", "join/", { quiet: Boolean($("quiet")?.checked) });
      setState(withMe(getState(), joined.participant));
      page.listening = true;
      send({ type: "listening" }); // a signed-out listener's socket vouches for them
      remember(true);
      await startMedia(joined.media);
    } finally {
      page.starting = false;
    }
  }

  // Where the browser insists on a tap before playing sound, the Listen button asks for one.
  function checkPlaying() {
    const audio = $("audio");
    if (!audio.srcObject || !audio.paused) return;
    audio.play().then(() => { page.blocked = false; draw(); }, () => {
      page.blocked = true;
      say("Tap “Tap to hear the room” to hear the Space: your browser asks for it.");
      draw();
    });
  }

  async function startMedia(creds) {
    if (!creds) {
      say("Audio is not available for this Space right now.");
      return;
    }
    try {
      await media.stop();
      page.mediaKind = null;
      if (creds.kind === "speaker") {
        say("Connecting your microphone…");
        await media.speak(creds, $("audio"), audioLost);
        page.mediaKind = "speaker";
        if (getState().me?.self_muted && !creds.muted) media.setMuted(true); // kept by the server over a reload
        say(speakerStatus(getState().me));
      } else {
        say("Connecting audio…");
        await media.listen(creds, $("audio"), audioLost);
        page.mediaKind = "listener";
        say("Listening.");
      }
      retry = 0;
      setTimeout(checkPlaying, 500);
    } catch (error) {
      say(`Audio could not start: ${error.message || error}. Retrying…`);
      audioLost();
    } finally {
      draw();
    }
  }

  // The media server went away (or refused us): try again with fresh credentials, with backoff.
  function audioLost() {
    if (!page.listening || !isLive(getState())) return;
    say("Audio interrupted; reconnecting…");
    // Soon after a media server restart everyone comes back: short steps, spread a little.
    const delay = Math.min(3000, 1000 * ++retry) + Math.random() * 500;
    setTimeout(async () => {
      try {
        await startMedia(await credentials());
      } catch {
        audioLost();
      }
    }, delay);
  }

  // The viewer's role changed: the media server's credentials say whether they now speak or listen.
  async function followRole() {
    if (!page.listening) return;
    const creds = await credentials();
    if ((creds?.kind ?? null) !== page.mediaKind) await startMedia(creds);
  }

  function stop() {
    page.listening = false;
    page.mediaKind = null;
    page.blocked = false;
    media.stop().catch(() => {});
    if ($("media-status").textContent) say("Audio stopped.");
  }

  return { page, listen, followRole, stop };
}
