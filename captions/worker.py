"""The captions worker: its own process (``manage.py captions_worker``), so recognising speech
never takes a web process's time.

It listens on one UDP port (``settings.CAPTIONS``) where the media server forwards the mix of every
Space whose captions are on (``captions.forwarding``; the RTP SSRC names the room), and takes
datagrams only from the media server's nodes (``rooms.media.nodes.addresses``). For each such
Space it decodes the mix, samples who is talking (Redis, several times a second), gates the audio
by consent (``captions.gating``), feeds what passes to the recogniser, sends the words as they come
(``caption`` frames, ``final`` false) and keeps each finished utterance (``captions.services``).

It survives its neighbours: a database, Redis or channel layer that stops answering is logged once
(and once more when it answers again) and retried; audio of a Space is dropped while who is talking
cannot be known.
"""

import array
import logging
import math
import select
import socket
import time
from collections import deque

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry
from django.db import close_old_connections

from rooms import presence
from rooms.media import nodes

from . import forwarding, registry, selectors, services
from .engine import OpusTo16k, Recogniser, rtp_payload, seconds
from .gating import Gate, Segmenter

logger = logging.getLogger(__name__)

REFRESH_EVERY = 1.0  # which Spaces are captioned, and who on their stage consented
# With no captioned Space the database is not asked each second: the Redis set of
# ``captions.registry`` says when a Space turns captions on; this slow resync is the safety net.
RESYNC_EVERY = 30.0
SAMPLE_EVERY = 0.1  # who is talking
PARTIAL_EVERY = 0.3  # words of an utterance still going on
MAX_HELD = 5.0  # seconds of audio held waiting for a decision, at most (then the oldest is dropped)
# An utterance ends as soon as the mix after it is quiet this long (RMS under QUIET_RMS), without
# waiting for the talking notice to end and for that silence's own hold: captions come sooner.
QUIET_END = 0.3
QUIET_RMS = 300
# Senders that are not a media server node: each is logged once, up to this many; all are counted.
FOREIGN_LOGGED = 32


def redis_client(url: str) -> redis.Redis:
    """Who is talking is asked ten times a second: a Redis that does not answer must not hold the
    loop (redis-py would retry with backoff for seconds), it is one unknown sample."""
    return redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def rms(pcm: bytes) -> float:
    samples = array.array("h", pcm)
    return math.sqrt(sum(v * v for v in samples) / len(samples)) if samples else 0.0


class Problems:
    """One log line when a kind of problem starts, one when it is over."""

    def __init__(self):
        self.now: set[str] = set()

    def fail(self, kind: str, error: Exception) -> None:
        if kind not in self.now:
            self.now.add(kind)
            logger.warning("Captions worker: %s failing: %s", kind, error)

    def ok(self, kind: str) -> None:
        if kind in self.now:
            self.now.discard(kind)
            logger.info("Captions worker: %s answers again", kind)


class SpaceStream:
    """One captioned Space: its decoder, gate, held audio, utterance and recogniser."""

    def __init__(self, space_id: int, started_at: float, problems: Problems):
        self.space_id, self.started_at, self.problems = space_id, started_at, problems
        self.opus = OpusTo16k()
        self.gate = Gate()
        self.segmenter = Segmenter()
        self.held: deque[tuple[float, bytes, float]] = deque()  # (time, PCM, RMS)
        self.recogniser: Recogniser | None = None
        self.consent: dict[str, tuple[str, bool]] = {}
        self.last_partial, self.partial_at = "", 0.0
        self.last_seq: int | None = None
        self.stats = {"packets": 0, "fed_seconds": 0.0, "dropped_seconds": 0.0, "segments": 0}

    def packet(self, seq: int, payload: bytes, now: float) -> None:
        self.stats["packets"] += 1
        try:
            pcm = self.opus.decode(payload)
        except Exception as error:  # a corrupt packet: PyAV raises its own errors
            self.problems.fail(f"decoding Space {self.space_id}", error)
            return
        if pcm:
            self.held.append((now - seconds(pcm), pcm, rms(pcm)))
        while self.held and self.held[0][0] < now - MAX_HELD:
            self.stats["dropped_seconds"] += seconds(self.held.popleft()[1])

    def observe(self, now: float, talking: set[str] | None) -> None:
        self.gate.observe(now, talking, {uid: ok for uid, (_, ok) in self.consent.items()})

    def pump(self, now: float) -> None:
        while self.held and self.gate.ready(self.held[0][0], now):
            t, pcm, level = self.held.popleft()
            duration = seconds(pcm)
            speakers = self.gate.decide(t)
            if not speakers:
                self.stats["dropped_seconds"] += duration
            elif self.segmenter.current is None and level < QUIET_RMS:
                speakers = frozenset()  # an utterance starts with a sound, not with silence
            for kind, value in self.segmenter.push(t, duration, speakers, pcm):
                self._on(kind, value, now)
        if self.segmenter.current is not None and self._quiet_next():
            for kind, value in self.segmenter.flush("quiet"):
                self._on(kind, value, now)
        if self.recogniser and self.recogniser.busy and now - self.partial_at >= PARTIAL_EVERY:
            self.partial_at = now
            text = self.recogniser.partial()
            utterance = self.segmenter.current
            if text and text != self.last_partial and utterance is not None:
                self.last_partial = text
                self._publish_partial(utterance, text, now)

    def _quiet_next(self) -> bool:
        """Is the audio waiting after the utterance quiet for QUIET_END already?"""
        quiet = 0.0
        for _, pcm, level in self.held:
            if level >= QUIET_RMS:
                return False
            quiet += seconds(pcm)
            if quiet >= QUIET_END:
                return True
        return False

    def _on(self, kind: str, value, now: float) -> None:
        if kind == "start":
            if self.recogniser is None:
                self.recogniser = Recogniser()
            self.recogniser.start()
            self.last_partial, self.partial_at = "", now
        elif kind == "audio":
            self.stats["fed_seconds"] += seconds(value)
            self.recogniser.feed(value)
        elif kind == "end":
            self.stats[f"ended_{value.ended_by}"] = self.stats.get(f"ended_{value.ended_by}", 0) + 1
            text = self.recogniser.finish()
            if text:
                self._keep(value, text, now)

    def close(self, now: float) -> None:
        for kind, value in self.segmenter.flush("closing"):
            self._on(kind, value, now)
        logger.info("Captions of Space %s stopped: %s", self.space_id,
                    " ".join(f"{k}={round(v, 1)}" for k, v in sorted(self.stats.items())))

    def _offset(self, t: float, now: float) -> float:
        """Seconds since the Space started, of monotonic time ``t``."""
        return max(0.0, time.time() - (now - t) - self.started_at)

    def _publish_partial(self, utterance, text: str, now: float) -> None:
        speakers = sorted(utterance.speakers)
        try:
            services.caption_partial(space_id=self.space_id, speakers=speakers,
                                     names=[self.consent.get(u, ("", False))[0] for u in speakers],
                                     start=self._offset(utterance.start, now), text=text)
            self.problems.ok("channel layer")
        except Exception as error:
            self.problems.fail("channel layer", error)

    def _keep(self, utterance, text: str, now: float) -> None:
        try:
            segment = services.segment_add(space_id=self.space_id, speakers=sorted(utterance.speakers),
                                           start=self._offset(utterance.start, now),
                                           end=self._offset(utterance.end, now), text=text)
            self.problems.ok("database")
        except Exception as error:
            self.problems.fail("database", error)
            close_old_connections()
            return
        if segment is not None:
            self.stats["segments"] += 1


class Worker:
    def __init__(self, host: str | None = None, port: int | None = None):
        self.host = host or settings.CAPTIONS["HOST"]
        self.port = port if port is not None else settings.CAPTIONS["PORT"]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((self.host, self.port))
        self.sock.setblocking(False)
        self.problems = Problems()
        self.redis = redis_client(settings.REDIS_URL)
        self.streams: dict[int, SpaceStream] = {}  # by SSRC
        self.refreshed = self.sampled = 0.0
        self.resynced = -RESYNC_EVERY
        self.running = True
        # Only the media server's nodes may send: anyone else reaching the port could otherwise
        # put words in a captioned Space (the SSRC is made from the room id, which is no secret).
        self.sources = nodes.addresses()
        self.foreign = 0  # datagrams dropped for their sender
        self.foreign_logged: set[str] = set()

    def refresh(self, now: float) -> None:
        """Each second, from the database while a Space is captioned (who is on stage and
        consented changes), or when Redis says one is, or cannot say; else every RESYNC_EVERY."""
        try:
            seen, reachable = registry.read(self.redis), True  # room id -> Space id; None: lost
        except redis.RedisError as error:
            self.problems.fail("Redis", error)
            seen, reachable = None, False
        if not self.streams and seen == {} and now - self.resynced < RESYNC_EVERY:
            return  # idle: no SQL
        self.resynced = now
        try:
            close_old_connections()
            spaces = selectors.captioned_spaces()
            consent = {space_id: selectors.stage_consent(space_id) for space_id, _, _ in spaces}
            self.problems.ok("database")
        except Exception as error:
            self.problems.fail("database", error)
            return
        if reachable:
            try:
                registry.reconcile(self.redis, seen, {room: space_id for space_id, room, _ in spaces})
            except redis.RedisError as error:
                self.problems.fail("Redis", error)
        wanted = {forwarding.ssrc_of(room): (space_id, started) for space_id, room, started in spaces}
        for ssrc in list(self.streams):
            if ssrc not in wanted:
                self.streams.pop(ssrc).close(now)
        for ssrc, (space_id, started) in wanted.items():
            stream = self.streams.get(ssrc)
            if stream is None or stream.space_id != space_id:
                stream = self.streams[ssrc] = SpaceStream(space_id, started, self.problems)
            stream.consent = consent[space_id]

    def sample(self, now: float) -> None:
        if not self.streams:
            return
        streams = list(self.streams.values())
        try:
            pipe = self.redis.pipeline(transaction=False)
            for stream in streams:
                pipe.smembers(presence.speaking_key(stream.space_id))
            results = pipe.execute()
            self.problems.ok("Redis")
        except redis.RedisError as error:
            self.problems.fail("Redis", error)
            results = [None] * len(streams)
        for stream, members in zip(streams, results):
            stream.observe(now, None if members is None else {m.decode() for m in members})

    def receive(self, now: float) -> int:
        count = 0
        while count < 2000:
            try:
                packet, (sender, _) = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            count += 1
            if sender not in self.sources:
                self._drop_foreign(sender)
                continue
            parsed = rtp_payload(packet)
            if parsed is None:
                continue
            stream = self.streams.get(parsed[0])
            if stream is not None:
                stream.packet(parsed[1], parsed[2], now)
        return count

    def _drop_foreign(self, sender: str) -> None:
        """A datagram from an address that is no media server node: counted; its sender logged
        the first time (a flood from many addresses logs FOREIGN_LOGGED lines, then nothing)."""
        self.foreign += 1
        if sender in self.foreign_logged or len(self.foreign_logged) >= FOREIGN_LOGGED:
            return
        self.foreign_logged.add(sender)
        logger.warning("Captions worker: dropping datagrams from %s, not a media server node (%s)%s", sender,
                       ", ".join(sorted(self.sources)) or "none resolved",
                       "; further senders are only counted" if len(self.foreign_logged) == FOREIGN_LOGGED else "")

    def step(self, timeout: float = 0.02) -> None:
        select.select([self.sock], [], [], timeout)
        now = time.monotonic()
        if now - self.refreshed >= REFRESH_EVERY:
            self.refreshed = now
            self.refresh(now)
        self.receive(now)
        if now - self.sampled >= SAMPLE_EVERY:
            self.sampled = now
            self.sample(now)
        for stream in list(self.streams.values()):
            stream.pump(now)

    def run(self) -> None:
        logger.info("Captions worker listening on %s:%s (UDP)", self.host, self.port)
        while self.running:
            self.step()
        for stream in self.streams.values():
            stream.close(time.monotonic())
        if self.foreign:
            logger.info("Captions worker stopped: %s datagrams dropped from senders that are no media server node",
                        self.foreign)
        self.sock.close()
