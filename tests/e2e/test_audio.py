"""Voices really travel: a speaker's page publishes a tone into Janus, a signed-out listener on the
share link hears it, and the host's controls hold in the media server. Real Janus, real daphne,
Debian's headless Chromium with a fake microphone."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from rooms.media import MediaError
from rooms.media import janus as media
from rooms.models import Participant, Space
from tests.factories import UserFactory

from tests.processes import ROOT, wait_for

from .conftest import audio_level, janus_handles, sign_in
# A Redis of each test's own for the stack (see there): on the shared one, other people's e2e
# runs take this stack's media tasks and hold its media locks.
from .test_media_attacks import JANUS_UNAUTHORIZED

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SILENCE = 0.003
SOUND = 0.01


def api_for(user, base):
    session = requests.Session()
    session.headers["Authorization"] = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    session.base = base
    return session


def hears(page, timeout: float) -> float | None:
    return wait_for(lambda: (level := audio_level(page)) > SOUND and level, timeout=timeout, interval=0.2)


def in_mix(space) -> dict[int, bool]:
    with media.plugin(media.AUDIOBRIDGE) as bridge:
        return media.participants(bridge, space.media_room_id)


def reconcile(stack) -> dict:
    """``media_reconcile`` as an operator runs it: in a process of its own, on the stack's settings."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "import json; from rooms.services import media_reconcile; print(json.dumps(media_reconcile()))"],
        cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# Keeps every RTCPeerConnection the page makes (janus.js makes them) where the test can ask its stats.
KEEP_PEER_CONNECTIONS = """
window.peerConnections = [];
const Native = window.RTCPeerConnection;
window.RTCPeerConnection = function (...args) { const pc = new Native(...args); window.peerConnections.push(pc); return pc; };
window.RTCPeerConnection.prototype = Native.prototype;
"""
# Audio packets received, and the audio they carried (samples at 48 kHz), on the page's connections.
INBOUND_AUDIO = """async () => {
  let packets = 0, samples = 0;
  for (const pc of window.peerConnections) {
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') { packets += r.packetsReceived; samples += r.totalSamplesReceived || 0; }
    });
  }
  return [packets, samples];
}"""


def packet_ms(page, seconds: float = 3.0) -> float:
    """Milliseconds of audio per packet the page receives, measured over ``seconds``."""
    packets0, samples0 = page.evaluate(INBOUND_AUDIO)
    time.sleep(seconds)
    packets1, samples1 = page.evaluate(INBOUND_AUDIO)
    assert packets1 > packets0, "no audio packets arrive"
    return (samples1 - samples0) / 48 / (packets1 - packets0)


def speaker_prebuffers() -> list[int]:
    """The AudioBridge's prebuffer (packets) of each handle in a room's mix (admin API)."""
    counts = []
    for _, _, info in janus_handles():
        specific = info.get("plugin_specific") or {}
        if info.get("plugin") == media.AUDIOBRIDGE and "prebuffer-count" in specific:
            counts.append(specific["prebuffer-count"])
    return counts


def test_listeners_hear_speakers_and_the_hosts_controls_hold_in_janus(stack, browser):
    host, fan = UserFactory(username="host"), UserFactory(username="fan")
    api = api_for(host, stack.base)

    # The host starts a Space from the dashboard: the room opens with their mic on; they mute it
    # (no tone from them).
    host_page = browser.new_context().new_page()
    sign_in(host_page, stack.base, "host")
    host_page.fill("#id_start-title", "Audio check")
    host_page.click("button[name=start]")
    host_page.wait_for_url("**/s/**")
    host_page.wait_for_function("document.getElementById('media-status').textContent.includes('microphone is live')", timeout=20000)
    host_page.click("#mic")
    host_page.wait_for_function("document.getElementById('media-status').textContent.includes('microphone is muted')", timeout=5000)
    space = Space.objects.get(title="Audio check")
    # The room is made by a Celery task once the start commits.
    assert wait_for(lambda: space.media_room_id in media.JanusMediaServer().rooms().speakers, timeout=10)
    assert space.media_room_id in media.JanusMediaServer().rooms().listeners

    # A signed-in fan and a signed-out listener press Listen.
    fan_page = browser.new_context().new_page()
    sign_in(fan_page, stack.base, "fan")
    fan_page.goto(f"{stack.base}/s/{space.code}/")
    fan_page.click("#listen")
    listener = browser.new_context().new_page()
    listener.add_init_script(KEEP_PEER_CONNECTIONS)
    listener.goto(f"{stack.base}/s/{space.code}/")
    listener.click("#listen")
    listener.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=15000)
    assert audio_level(listener) < SILENCE  # nobody is speaking yet

    # The host puts the fan on stage: the fan's page starts publishing, the listener hears the tone.
    fan_p = Participant.objects.get(user=fan, space=space)
    url = f"{stack.base}/api/spaces/{space.code}/participants/{fan_p.uid}/"
    assert api.patch(url, json={"role": "speaker"}).status_code == 200
    assert hears(listener, timeout=15), "the listener never heard the speaker"
    # ...in packets of 60 ms (JANUS_LISTENER_PACKET_MS, the node's packer): a third of what Janus
    # would send them with the AudioBridge's own 20 ms packets, the same audio.
    assert 55 <= packet_ms(listener) <= 65
    # Everyone's packets wait 3 packets (60 ms), not Janus's 6, before the mix takes them.
    prebuffers = speaker_prebuffers()
    assert len(prebuffers) == 2 and set(prebuffers) == {3}, prebuffers
    # The packer dies: respawned, it packs the next frames (it keeps nothing), and the listener
    # hears again without doing anything.
    packer_pid = int(subprocess.run(["pgrep", "-P", str(stack.packer.process.pid)], capture_output=True, text=True).stdout.split()[0])
    os.kill(packer_pid, signal.SIGKILL)
    assert wait_for(lambda: audio_level(listener) < SILENCE, timeout=5), "still audible with the packer dead"
    assert hears(listener, timeout=10), "the listener did not hear again once the packer was back"
    # Janus's talking events reach the page as a speaking ring around the fan.
    listener.wait_for_selector(f'#stage .person.speaking[data-id="{fan_p.uid}"]', timeout=10000)

    # The host mutes the fan in Janus: the listener is silent within a second.
    assert api.patch(url, json={"muted": True}).status_code == 200
    muted_at = time.monotonic()
    silent_from = wait_for(
        lambda: (start := time.monotonic(), audio_level(listener) < SILENCE)[1] and start, timeout=5, interval=0
    )
    assert silent_from and silent_from - muted_at <= 1.0, "still audible a second after the mute"
    assert api.patch(url, json={"muted": False}).status_code == 200
    assert hears(listener, timeout=5)

    # Demoted, the fan is out of the mix, and the fan's old secret no longer opens the AudioBridge
    # under their old id: Janus refuses it as not on the allowed list (not for another reason).
    seat = Participant.objects.get(pk=fan_p.pk)
    old_token, old_id = seat.media_token, seat.media_id
    assert api.patch(url, json={"role": "listener"}).status_code == 200

    def old_token_refused() -> bool:
        with media.plugin(media.AUDIOBRIDGE) as bridge:
            try:
                bridge.message({"request": "join", "room": space.media_room_id, "id": old_id, "token": old_token})
            except MediaError as error:
                return error.code == JANUS_UNAUTHORIZED
            bridge.message({"request": "leave"})
            return False

    assert wait_for(old_token_refused, timeout=10)
    assert wait_for(lambda: old_id not in in_mix(space), timeout=5), in_mix(space)
    assert wait_for(lambda: audio_level(listener) < SILENCE, timeout=5)

    # On stage again (a fresh seat: a new id in the mix), then Janus dies and comes back: a
    # reconcile (run by hand here; the beat runs it every 2 s, see test_media_attacks) rebuilds
    # the room and its mountpoint, and the pages reconnect by themselves.
    assert api.patch(url, json={"role": "speaker"}).status_code == 200
    assert Participant.objects.get(pk=fan_p.pk).media_id not in (None, old_id)
    assert hears(listener, timeout=15)
    stack.janus.stop(signal.SIGKILL)
    stack.janus.start()
    assert wait_for(lambda: requests.post(media.config()["URL"], json={"janus": "info", "transaction": "t"}, timeout=1).ok, timeout=20)
    first, again = reconcile(stack), reconcile(stack)
    # Only this run can have made the room (no beat here); a second run finds nothing to open.
    assert first["reachable"] and first["opened"] == 1 and not first.get("failed"), first
    assert again["reachable"] and again["opened"] == 0, again
    rooms = media.JanusMediaServer().rooms()
    assert space.media_room_id in rooms.speakers and space.media_room_id in rooms.listeners
    assert hears(listener, timeout=30), "audio did not come back after Janus restarted"

    # The host ends the Space: its room and mountpoint are gone.
    assert api.post(f"{stack.base}/api/spaces/{space.code}/end/").status_code == 200
    assert wait_for(lambda: space.media_room_id not in media.JanusMediaServer().rooms().speakers, timeout=10)
    assert space.media_room_id not in media.JanusMediaServer().rooms().listeners
    listener.wait_for_selector("[data-when=ended]:not([hidden])", timeout=5000)


def test_a_recorded_space_leaves_a_replay_with_audio_in_it(stack, browser):
    import wave
    from array import array
    from pathlib import Path

    host = UserFactory(username="recorder")
    api = api_for(host, stack.base)
    created = api.post(f"{stack.base}/api/spaces/", json={"title": "On the record", "record": True})
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    page = browser.new_context().new_page()
    sign_in(page, stack.base, "recorder")
    page.goto(f"{stack.base}/s/{code}/")
    # On stage by itself: the host never presses Listen.
    page.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)
    page.wait_for_timeout(3000)  # three seconds of tone into the mix
    assert api.post(f"{stack.base}/api/spaces/{code}/end/").status_code == 200

    # The end screen shows the replay by itself once the worker has encoded it (Ogg Opus).
    page.wait_for_selector("audio.replay", timeout=20000)
    replay = api.get(f"{stack.base}/api/spaces/{code}/").json()["replay_url"]
    assert replay.endswith(".ogg"), replay
    # The player goes through the Space's replay link (which counts plays); the download is the file.
    assert page.get_attribute("audio.replay", "src") == f"/s/{code}/replay/"
    assert page.get_attribute("#replay-download", "href") == replay
    served = requests.get(stack.base + replay)
    assert served.status_code == 200 and served.content[:4] == b"OggS"
    ran = Space.objects.get(code=code)
    minutes = (ran.ended_at - ran.started_at).total_seconds() / 60
    assert len(served.content) / minutes <= 1_000_000, f"{len(served.content)} bytes for {minutes:.2f} min"
    # Seekable: byte ranges are served, as players ask for them.
    part = requests.get(stack.base + replay, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == served.content[:100]
    path = Path(stack.env["MEDIA_ROOT"]) / replay.removeprefix("/media/")
    decoded = path.with_suffix(".check.wav")
    subprocess.run(["opusdec", "--quiet", "--rate", "48000", str(path), str(decoded)], check=True)
    with wave.open(str(decoded)) as recording:
        frames = array("h", recording.readframes(recording.getnframes()))
    loud = max(abs(v) for v in frames)
    assert len(frames) > 48000 * recording.getnchannels()
    assert loud > 1000, f"the replay is silent (peak {loud})"
    # The browser reads its length (the file's Ogg pages let it seek).
    page.evaluate("document.querySelector('audio.replay').preload = 'metadata'")  # nothing loads until then
    page.wait_for_function(
        "(() => { const a = document.querySelector('audio.replay'); return a && a.duration > 2 && isFinite(a.duration); })()",
        timeout=10000,
    )

    page.goto(f"{stack.base}/s/{code}/")
    assert page.get_attribute("audio.replay", "src") == f"/s/{code}/replay/"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete-replay")
    assert wait_for(lambda: not api.get(f"{stack.base}/api/spaces/{code}/").json()["replay_url"], timeout=5)
    assert wait_for(lambda: not path.exists(), timeout=5)
