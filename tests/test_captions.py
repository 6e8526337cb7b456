"""Live captions: consent gating and utterances (pure), WebVTT, the services and API with their
refusals, the transcript with the replay, and the worker itself on real UDP, real Redis, real
Opus and the real recogniser, fed espeak-ng speech."""

import shutil
import socket
import subprocess
import time

import av
import pytest
from django.utils import timezone

from captions import forwarding, selectors
from captions import services as caption_services
from captions.engine import rtp_payload
from captions.gating import Gate, Segmenter, webvtt
from captions.models import CaptionConsent, CaptionSegment
from captions.worker import Worker
from rooms import presence, publisher
from rooms import services
from rooms.identity import Visitor
from tests.conftest import require
from tests.factories import UserFactory

CONSENT = {"ann": True, "bob": False}


# --- gating (pure) ------------------------------------------------------------------------------


def gate_with(samples, **options):
    gate = Gate(hold=1.0, guard=0.6, tail=0.3, **options)
    for at, talking in samples:
        gate.observe(at, talking, CONSENT)
    return gate


def timeline(spans, until=10.0, step=0.1):
    """Samples every ``step`` s: ``spans`` is [(start, end, uids)]."""
    out, at = [], 0.0
    while at <= until:
        out.append((round(at, 2), {uid for s, e, uids in spans if s <= at < e for uid in uids}))
        at += step
    return out


def test_audio_of_a_consenting_speaker_alone_is_fed_and_attributed_to_them():
    gate = gate_with(timeline([(2.0, 5.0, {"ann"})]))
    assert gate.decide(3.0) == {"ann"}
    # Talking notices lag the voice: audio just before the notice is still theirs (hold window).
    assert gate.decide(1.2) == {"ann"}
    assert gate.decide(0.5) == frozenset()  # nobody talking
    assert gate.decide(8.0) == frozenset()


def test_a_non_consenting_speaker_blocks_their_talk_and_a_guard_window_around_it():
    gate = gate_with(timeline([(2.0, 9.5, {"ann"}), (5.0, 6.0, {"bob"})]))
    assert gate.decide(3.0) == {"ann"}
    for t in (4.1, 4.5, 5.0, 5.5, 6.0, 6.5):  # hold before, the talk, guard after
        assert gate.decide(t) == frozenset(), t
    assert gate.decide(7.5) == {"ann"}


def test_someone_talking_who_is_not_on_stage_any_more_counts_as_not_consenting():
    gate = gate_with(timeline([(2.0, 6.0, {"ann", "carl"})]))
    assert gate.decide(3.0) == frozenset()


def test_nothing_is_fed_while_who_is_talking_cannot_be_known():
    gate = Gate(hold=1.0)
    for at in range(0, 30):
        gate.observe(at / 10, None if 10 <= at <= 12 else {"ann"}, CONSENT)
    assert gate.decide(0.5) == frozenset()  # the unknown sample at 1.0-1.2 is in its window
    assert gate.decide(2.0) == {"ann"}


def test_the_fate_of_audio_waits_for_its_hold_window():
    gate = gate_with([(0.0, {"ann"}), (0.5, {"ann"})])
    assert not gate.ready(0.2, now=0.9)
    assert not gate.ready(0.2, now=1.3)  # no sample after 1.2 yet
    gate.observe(1.25, {"ann"}, CONSENT)
    assert gate.ready(0.2, now=1.3)


def test_segmenter_cuts_utterances_at_drops_and_at_their_longest():
    seg = Segmenter(max_seconds=2.0)
    kinds = []
    for i in range(10):
        kinds += [k for k, _ in seg.push(i * 0.5, 0.5, frozenset({"ann"}) if i not in (3,) else frozenset(), b"x")]
    kinds += [k for k, _ in seg.flush()]
    assert kinds == ["start", "audio", "audio", "audio", "end",
                     "start", "audio", "audio", "audio", "audio", "end", "start", "audio", "audio", "end"]


def test_webvtt_has_a_cue_per_segment_with_the_speaker_as_voice_and_no_markup():
    class S:
        def __init__(self, start, end, name, text):
            self.start, self.end, self.speaker_name, self.text = start, end, name, text

    vtt = webvtt([S(1.5, 3.25, "Ann", "hello there"), S(3661.0, 3661.0, "Bob <b>", "a < b & c --> d")])
    assert vtt.startswith("WEBVTT\n\n1\n00:00:01.500 --> 00:00:03.250\n<v Ann>hello there\n")
    assert "01:01:01.000 --> 01:01:01.500\n<v Bob &lt;b&gt;>a &lt; b &amp; c --&gt; d" in vtt


def test_rtp_payload_skips_csrcs_extensions_and_padding():
    header = bytes([0x80 | 0x10 | 0x01, 111]) + (7).to_bytes(2, "big") + (0).to_bytes(4, "big") + (99).to_bytes(4, "big")
    packet = header + b"CSRC" + b"\xbe\xde\x00\x01" + b"EXT!" + b"opus"
    assert rtp_payload(packet) == (99, 7, b"opus")
    padded = bytes([0xA0, 111]) + header[2:] + b"opus" + b"\x00\x02"
    assert rtp_payload(padded) == (99, 7, b"opus")
    assert rtp_payload(b"\x00" * 20) is None and rtp_payload(b"short") is None


# --- services and API ---------------------------------------------------------------------------

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def on_stage(live_space, host):
    """A live Space with its host and a speaker, Bob, on stage."""
    bob = UserFactory(username="bob")
    participant = services.space_join(space=live_space, visitor=Visitor.of(bob))
    services.participant_set_role(space=live_space, actor=host, participant=participant, role="speaker")
    return live_space, bob


def test_the_host_turns_captions_on_and_the_mix_is_forwarded_to_the_worker(
    on_stage, host, client_for, media_server, django_capture_on_commit_callbacks, settings,
):
    space, _ = on_stage
    with publisher.capture() as frames, django_capture_on_commit_callbacks(execute=True):
        answer = client_for(host).put(f"/api/spaces/{space.code}/captions/", {"on": True}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["on"] is True and answer.json()["may_toggle"] is True
    assert [f["type"] for f in frames] == ["captions.updated"]
    assert frames[0]["data"] == {"on": True, "captioned": []} and frames[0]["seq"] > 0
    space.refresh_from_db()
    target = (settings.CAPTIONS["HOST"], settings.CAPTIONS["PORT"], forwarding.ssrc_of(space.media_room_id))
    assert media_server.room_state[space.media_room_id].forwards == {target}
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(host).put(f"/api/spaces/{space.code}/captions/", {"on": False}, format="json").status_code == 200
    assert media_server.room_state[space.media_room_id].forwards == set()


def test_only_host_and_cohosts_toggle_and_only_a_live_space(on_stage, host, client_for):
    space, bob = on_stage
    url = f"/api/spaces/{space.code}/captions/"
    refused = client_for(bob).put(url, {"on": True}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert client_for(None).put(url, {"on": True}, format="json").status_code in (401, 403)
    bad = client_for(host).put(url, {"on": "yes please"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_captions"
    assert client_for(host).put(url, ["on"], format="json").status_code == 400
    services.space_end(space=space, actor=host)
    over = client_for(host).put(url, {"on": True}, format="json")
    assert over.status_code == 409 and over.json()["code"] == "not_live"


def test_a_speaker_consents_once_a_listener_cannot_and_consent_is_revocable(
    on_stage, client_for, django_capture_on_commit_callbacks,
):
    space, bob = on_stage
    lena = UserFactory(username="lena")
    services.space_join(space=space, visitor=Visitor.of(lena))
    url = f"/api/spaces/{space.code}/captions/consent/"
    refused = client_for(lena).post(url)
    assert refused.status_code == 403 and refused.json()["code"] == "not_speaker"
    assert client_for(None).post(url).status_code in (401, 403)
    with publisher.capture() as frames, django_capture_on_commit_callbacks(execute=True):
        answer = client_for(bob).post(url)
    assert answer.status_code == 200 and answer.json()["consented"] is True
    bob_uid = space.participants.get(user=bob).uid
    assert frames[-1]["type"] == "captions.updated" and frames[-1]["data"]["captioned"] == [bob_uid]
    assert client_for(bob).post(url).status_code == 200  # once is enough; twice is no error
    assert CaptionConsent.objects.filter(user=bob).count() == 1
    assert client_for(bob).delete(url).json()["consented"] is False
    assert not CaptionConsent.objects.filter(user=bob).exists()


def test_a_segment_keeps_only_consenting_speakers_and_only_while_captions_are_on(
    on_stage, host, django_capture_on_commit_callbacks,
):
    space, bob = on_stage
    host_uid, bob_uid = (space.participants.get(user=u).uid for u in (host, bob))
    CaptionConsent.objects.create(user=host)
    assert caption_services.segment_add(space_id=space.pk, speakers=[host_uid], start=1, end=2, text="hi") is None  # off
    caption_services.captions_set(space=space, actor=host, on=True)
    assert caption_services.segment_add(space_id=space.pk, speakers=[bob_uid], start=1, end=2, text="no") is None
    with publisher.capture() as frames, django_capture_on_commit_callbacks(execute=True):
        segment = caption_services.segment_add(space_id=space.pk, speakers=[host_uid, bob_uid], start=1.25, end=2.5,
                                               text="  good   morning ")
    assert segment.speakers == [host_uid] and segment.speaker_name == "host" and segment.text == "good morning"
    assert [(f["type"], f["seq"], f.get("ephemeral")) for f in frames] == [("caption", 0, True)]
    assert frames[0]["data"] == {"id": segment.pk, "speaker_ids": [host_uid], "name": "host", "start": 1.25, "end": 2.5,
                                 "text": "good morning", "final": True}


def test_the_transcript_is_shown_searchable_and_served_as_webvtt_then_goes_with_the_replay(
    on_stage, host, client, client_for, settings, tmp_path,
):
    space, _ = on_stage
    for i, text in enumerate(["welcome to the show", "the weather today is sunny", "see you tomorrow"]):
        CaptionSegment.objects.create(space=space, speakers=["x"], speaker_name="host", start=i * 5, end=i * 5 + 3, text=text)
    services.space_end(space=space, actor=host)
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "replays").mkdir()
    (tmp_path / "replays" / "r.ogg").write_bytes(b"OggS")
    type(space).objects.filter(pk=space.pk).update(replay="replays/r.ogg", replay_expires_at=timezone.now() + settings.SPACES_REPLAY_KEEP)
    page = client.get(f"/s/{space.code}/").content.decode()
    assert 'id="transcript"' in page and "the weather today is sunny" in page and "0:05" in page
    found = client.get(f"/s/{space.code}/?q=WEATHER").content.decode()
    assert "the weather today is sunny" in found and "see you tomorrow" not in found and "1 line with" in found
    vtt = client.get(f"/s/{space.code}/captions.vtt")
    assert vtt["Content-Type"].startswith("text/vtt") and "00:00:05.000 --> 00:00:08.000\n<v host>the weather" in vtt.content.decode()
    api = client_for(None).get(f"/api/spaces/{space.code}/transcript/?q=tomorrow").json()
    assert [s["text"] for s in api["segments"]] == ["see you tomorrow"]
    space.refresh_from_db()
    services.space_replay_delete(space=space, actor=host)
    assert not CaptionSegment.objects.filter(space=space).exists()
    assert 'id="transcript"' not in client.get(f"/s/{space.code}/").content.decode()


def test_transcripts_of_spaces_without_a_replay_expire(on_stage, host, settings):
    space, _ = on_stage
    CaptionSegment.objects.create(space=space, speakers=["x"], speaker_name="host", start=0, end=1, text="old")
    services.space_end(space=space, actor=host)
    assert caption_services.transcripts_expire() == 0
    assert caption_services.transcripts_expire(now=timezone.now() + settings.SPACES_REPLAY_KEEP + timezone.timedelta(minutes=1)) == 1


# --- the worker, for real -----------------------------------------------------------------------

# PocketSphinx on espeak-ng gets these words right (docs/BENCHMARKS.md has its word error rate).
SENTENCE = "welcome to the show. the meeting starts at ten o'clock"


def speech_packets(text: str, ssrc: int) -> list[bytes]:
    """espeak-ng speech, Opus-encoded in 20 ms RTP packets as the media server forwards a mix."""
    wav = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", text], capture_output=True, check=True).stdout
    raw = subprocess.run(["sox", "-D", "-t", "wav", "-", "-r", "48000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-"],
                         input=wav, capture_output=True, check=True).stdout
    raw += b"\x00" * (48000 * 2)  # a second of silence after
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "mono", "s16"
    packets, seq = [], 0
    for offset in range(0, len(raw) - 1920 + 1, 1920):
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.sample_rate = 48000
        frame.planes[0].update(raw[offset:offset + 1920])
        frame.pts = offset // 2
        for packet in encoder.encode(frame):
            header = bytes([0x80, 111]) + seq.to_bytes(2, "big") + (seq * 960).to_bytes(4, "big") + ssrc.to_bytes(4, "big")
            packets.append(header + bytes(packet))
            seq += 1
    return packets


def run_worker(space, talking_uid: str, packets) -> Worker:
    """Stream ``packets`` in real time to a worker on a free port, with ``talking_uid`` marked
    talking in Redis (as the media server's notices do) while the speech plays."""
    worker = Worker(host="127.0.0.1", port=0)
    port = worker.sock.getsockname()[1]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    presence.sync_client().delete(presence.speaking_key(space.pk))
    start = time.monotonic()
    worker.step(0)
    try:
        for number, packet in enumerate(packets):
            if number == 10:
                presence.speaking_mark(space.pk, talking_uid, True)
            if number == len(packets) - 40:
                presence.speaking_mark(space.pk, talking_uid, False)
            sender.sendto(packet, ("127.0.0.1", port))
            while time.monotonic() < start + (number + 1) * 0.02:
                worker.step(0.005)
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            worker.step(0.02)
    finally:
        presence.sync_client().delete(presence.speaking_key(space.pk))
        sender.close()
        worker.sock.close()
    return worker


@pytest.fixture
def captioned(on_stage, host):
    require(shutil.which("espeak-ng") and shutil.which("sox"), "espeak-ng and sox are needed")
    space, bob = on_stage
    CaptionConsent.objects.create(user=host)
    caption_services.captions_set(space=space, actor=host, on=True)
    space.refresh_from_db()
    return space, bob


@pytest.mark.django_db(transaction=True)
def test_the_worker_captions_a_consenting_speaker_from_the_forwarded_mix(captioned, host):
    space, _ = captioned
    host_uid = space.participants.get(user=host).uid
    worker = run_worker(space, host_uid, speech_packets(SENTENCE, forwarding.ssrc_of(space.media_room_id)))
    segments = list(CaptionSegment.objects.filter(space=space))
    assert segments, worker.streams
    words = " ".join(s.text for s in segments).split()
    assert {"welcome", "show"} <= set(words), words
    assert all(s.speakers == [host_uid] and s.speaker_name == "host" for s in segments)
    stream = next(iter(worker.streams.values()))
    assert stream.stats["fed_seconds"] > 2.0


@pytest.mark.django_db(transaction=True)
def test_the_worker_never_transcribes_a_speaker_who_did_not_consent(captioned):
    space, bob = captioned
    bob_uid = space.participants.get(user=bob).uid
    worker = run_worker(space, bob_uid, speech_packets(SENTENCE, forwarding.ssrc_of(space.media_room_id)))
    assert not CaptionSegment.objects.filter(space=space).exists()
    stream = next(iter(worker.streams.values()))
    assert stream.stats["packets"] > 100 and stream.stats["fed_seconds"] == 0


def test_captions_state_for_a_listener(on_stage):
    space, _ = on_stage
    state = selectors.viewer_state(space, Visitor(user=None, anon_id="abc"))
    assert state | {"lines": []} == {"on": False, "captioned": [], "may_toggle": False, "may_consent": False,
                                     "consented": False, "lines": []}


@pytest.mark.django_db(transaction=True)
def test_while_redis_does_not_answer_nothing_is_fed_and_the_worker_says_so_once(captioned, caplog):
    """Who is talking cannot be known: every moment counts as someone who has not consented, and a
    Redis that refuses does not hold the worker's loop."""
    from captions.worker import redis_client
    from tests.processes import free_port

    worker = Worker(host="127.0.0.1", port=0)
    alive = worker.redis
    try:
        worker.step(0)  # the captioned Space is found
        worker.redis = redis_client(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
        started = time.monotonic()
        for _ in range(3):
            worker.sampled = 0.0
            worker.step(0)
        assert time.monotonic() - started < 2.0
        stream = next(iter(worker.streams.values()))
        unknown = [s for s in stream.gate.samples if s.at >= started]
        assert len(unknown) == 3 and all(s.blocked for s in unknown)
        assert stream.gate.decide(unknown[0].at - 0.5) == frozenset()
        assert sum("Redis failing" in r.getMessage() for r in caplog.records) == 1
        worker.redis = alive
        worker.sampled = 0.0
        worker.step(0)
        assert any("Redis answers again" in r.getMessage() for r in caplog.records)
    finally:
        worker.sock.close()


@pytest.mark.django_db(transaction=True)
def test_an_idle_worker_asks_postgresql_nothing_and_still_sees_captions_turned_on(on_stage, host):
    """With no captioned Space the worker reads a Redis set each second, not the database; turning
    captions on (the service marks the set after commit) is seen within a second, and off again
    the worker is idle again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    space, _ = on_stage

    def run(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            worker.step(0.02)

    worker = Worker(host="127.0.0.1", port=0)
    try:
        worker.step(0)  # the start-up look at the database: nothing captioned
        assert worker.streams == {}
        with CaptureQueriesContext(connection) as idle:
            run(3.5)
        assert len(idle.captured_queries) == 0, idle.captured_queries

        caption_services.captions_set(space=space, actor=host, on=True)
        run(1.2)
        assert [s.space_id for s in worker.streams.values()] == [space.pk]

        caption_services.captions_set(space=space, actor=host, on=False)
        run(1.2)
        assert worker.streams == {}
        with CaptureQueriesContext(connection) as idle_again:
            run(2.5)
        assert len(idle_again.captured_queries) == 0, idle_again.captured_queries
    finally:
        worker.sock.close()


@pytest.mark.django_db(transaction=True)
def test_the_slow_resync_finds_a_space_redis_forgot_and_drops_one_that_ended(on_stage, host, monkeypatch):
    """The safety net: a Space whose captions are on but absent from the Redis set (Redis restarted)
    is found by the resync, and an id left in the set by a Space no longer captioned is taken out."""
    from captions import registry, worker as worker_module
    from captions.models import SpaceCaptions

    space, _ = on_stage
    monkeypatch.setattr(worker_module, "RESYNC_EVERY", 1.0)
    worker = Worker(host="127.0.0.1", port=0)
    try:
        worker.step(0)
        SpaceCaptions.objects.create(space=space, on=True)  # behind the service's back: not in Redis
        presence.sync_client().hset(registry.key(), 999_999, 999_999)  # a stale room
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            worker.step(0.02)
        assert [s.space_id for s in worker.streams.values()] == [space.pk]
        space.refresh_from_db()
        assert registry.read(presence.sync_client()) == {space.media_room_id: space.pk}
    finally:
        presence.sync_client().delete(registry.key())
        worker.sock.close()


def test_the_media_reconcile_asks_redis_not_postgresql_whether_a_room_is_captioned(
    on_stage, host, media_server, django_capture_on_commit_callbacks, settings,
):
    """The reconcile asks every live room's extra forwards every 2 s: once the registry is built,
    the captions answer costs no SQL, and turning captions on or off still shows at once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from captions import registry
    from rooms import media

    space, _ = on_stage
    space.refresh_from_db()
    room = space.media_room_id
    target = (settings.CAPTIONS["HOST"], settings.CAPTIONS["PORT"], forwarding.ssrc_of(room))
    registry.reconcile(presence.sync_client(), None, {})  # what the worker's look finds: nothing captioned
    with CaptureQueriesContext(connection) as off:
        assert media.extra_forwards(room) == set()

    with django_capture_on_commit_callbacks(execute=True):
        caption_services.captions_set(space=space, actor=host, on=True)
    assert media_server.room_state[room].forwards == {target}  # the media update after commit saw it
    with CaptureQueriesContext(connection) as on:
        assert media.extra_forwards(room) == {target}
        assert media.extra_forwards(room + 1) == set()

    with django_capture_on_commit_callbacks(execute=True):
        caption_services.captions_set(space=space, actor=host, on=False)
    assert media_server.room_state[room].forwards == set()
    with CaptureQueriesContext(connection) as off_again:
        assert media.extra_forwards(room) == set()
    assert (off.captured_queries, on.captured_queries, off_again.captured_queries) == ([], [], [])


@pytest.mark.django_db(transaction=True)
def test_a_registry_redis_lost_is_answered_from_postgresql_until_the_worker_rebuilds_it(on_stage, host, settings):
    """Redis restarted: the forward of a captioned Space does not vanish (the database answers
    while the registry is not marked synced), and the worker, idle or not, rebuilds the registry
    within a second rather than at its slow resync."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from captions import registry

    space, _ = on_stage
    client = presence.sync_client()
    worker = Worker(host="127.0.0.1", port=0)

    def run(seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            worker.step(0.02)

    try:
        worker.step(0)  # the first look at the database builds the registry: nothing captioned
        assert registry.read(client) == {}
        client.delete(registry.key())  # lost while idle
        run(1.2)
        assert registry.read(client) == {}

        caption_services.captions_set(space=space, actor=host, on=True)
        space.refresh_from_db()
        target = (settings.CAPTIONS["HOST"], settings.CAPTIONS["PORT"], forwarding.ssrc_of(space.media_room_id))
        run(1.2)
        client.delete(registry.key())  # lost while a Space is captioned
        with CaptureQueriesContext(connection) as lost:
            assert forwarding.forwards(space.media_room_id) == {target}
        assert len(lost.captured_queries) == 1
        run(1.2)
        assert registry.read(client) == {space.media_room_id: space.pk}
        with CaptureQueriesContext(connection) as rebuilt:
            assert forwarding.forwards(space.media_room_id) == {target}
        assert rebuilt.captured_queries == []
    finally:
        client.delete(registry.key())
        worker.sock.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("node_address, foreign_address", [("127.0.0.1", "127.0.0.2"), ("127.0.0.2", "127.0.0.1")])
def test_the_worker_takes_rtp_only_from_the_media_server_nodes(captioned, settings, caplog, node_address, foreign_address):
    """Anyone else who reaches the worker's port is ignored (counted, and logged once), whatever
    SSRC they send; the nodes' packets still go through. One node (``JANUS_FORWARD_IFACE``) or
    several (``JANUS_NODES``, their ``forward_host``)."""
    space, _ = captioned
    if node_address == "127.0.0.1":
        settings.JANUS_NODES = []
        settings.JANUS = {**settings.JANUS, "FORWARD_IFACE": node_address}
    else:
        settings.JANUS_NODES = [{"name": name, "url": "http://127.0.0.1:1/janus", "admin_url": "http://127.0.0.1:1/admin",
                                 "public_url": "", "ws_port": 1, "forward_host": node_address} for name in ("a", "b")]
    packets = speech_packets("hello", forwarding.ssrc_of(space.media_room_id))[:8]
    worker = Worker(host="127.0.0.1", port=0)
    port = worker.sock.getsockname()[1]
    node, stranger = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    node.bind((node_address, 0))
    stranger.bind((foreign_address, 0))
    try:
        worker.step(0)  # the captioned Space is found
        stream = next(iter(worker.streams.values()))
        for packet in packets[:5]:
            stranger.sendto(packet, ("127.0.0.1", port))
        for packet in packets[5:]:
            node.sendto(packet, ("127.0.0.1", port))
        until = time.monotonic() + 1.0
        while time.monotonic() < until and stream.stats["packets"] + worker.foreign < len(packets):
            worker.step(0.02)
        assert (stream.stats["packets"], worker.foreign) == (3, 5)
        warnings = [r.getMessage() for r in caplog.records if "not a media server node" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].startswith(f"Captions worker: dropping datagrams from {foreign_address},")
    finally:
        for sock in (node, stranger, worker.sock):
            sock.close()
