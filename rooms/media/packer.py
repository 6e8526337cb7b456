"""Listeners' packets of 60 ms: the room's mix arrives from the AudioBridge as 20 ms Opus frames,
one per RTP packet; the packer puts three in one packet before a node's Streaming mountpoint
relays it to every listener.

Why: what a listener costs Janus is per packet far more than per byte (a copy and a queue
wake-up, one SRTP encryption, one ``sendmsg``, a share of an event-loop pass: docs/BENCHMARKS.md),
and the AudioBridge mixes and encodes in 20 ms frames with no setting to change that. Opus lets
one packet carry several frames (RFC 6716, section 3.2) and every WebRTC receiver decodes them, so
a third of the packets carry the same audio, bit for bit: no decoding, no re-encoding. The cost is
40 ms more delay on the listeners' path; speakers hear each other in the AudioBridge, unchanged.
``JANUS_LISTENER_PACKET_MS`` chooses 20 (no packer: the room forwards straight to the
mountpoints), 40 or 60 (the default).

Addressing, with nothing to configure per room and nothing to lose on a restart: a room's forward
to a node goes to that node's packer (the node's ``forward_host``, its ``packer_port``) with an RTP
SSRC whose low 16 bits are the port of the room's mountpoint on that node (``ssrc_for``). The packer
sends the packed stream to that port on its own address. A packer started again packs the next
frames; a stream it has not heard from for a while is forgotten.

What it takes and where it sends, since whoever reaches its port could otherwise put audio in
front of a Space's listeners or aim it at another port: datagrams only from the media server
nodes' addresses (as the captions worker), only well-formed RTP, and only into this node's
mountpoint range (``FORWARD_PORT_BASE`` .. + ``FORWARD_PORT_COUNT``), on the forward address it is
bound to (loopback on one machine). Everything else is dropped and counted; the first of each kind
is logged.
"""

import logging
import secrets
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from django.conf import settings

from . import nodes

logger = logging.getLogger(__name__)

RTP_VERSION = 2
MAX_FRAME_BYTES = 1275  # RFC 6716, 3.2.1: the longest frame a length can say
SAMPLE_RATE = 48000  # Opus's RTP clock (RFC 7587), whatever the audio's bandwidth
HOLD_GRACE_S = 0.02  # a stream whose next frame is this late has its held frames sent as they are
RESTART_FRAMES = 50  # a forward whose numbers jump this many frames (or its clock a second), or back, started again
FORGET_AFTER_S = 30.0
STREAMS_PER_PORT = 4  # streams held at most, per port of the node's mountpoint range  # a stream unheard this long is forgotten (the room closed, its forward moved)
PACKET_BYTES = 2048


def ssrc_for(room_id: int, port: int) -> int:
    """The SSRC of a room's forward to a packer: the mountpoint's port in the low 16 bits (where the
    packer sends), the room in the high 16 (streams of two rooms never share one)."""
    if not 0 < port < 1 << 16:
        raise ValueError(f"not a port: {port}")
    return ((room_id & 0xFFFF) << 16) | port


def frame_samples(toc: int) -> int:
    """Samples at 48 kHz in one frame of an Opus packet with this TOC byte (RFC 6716, 3.1)."""
    config = toc >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        return (480, 960, 1920, 2880)[config & 3]
    if config < 16:  # hybrid: 10, 20 ms
        return (480, 960)[config & 1]
    return (120, 240, 480, 960)[config & 3]  # CELT: 2.5, 5, 10, 20 ms


def _length(size: int) -> bytes:
    """A frame length as Opus writes it (RFC 6716, 3.2.1): one byte below 252, else two."""
    if size < 252:
        return bytes([size])
    first = 252 + (size & 3)
    return bytes([first, (size - first) >> 2])


def pack(frames: list[bytes]) -> bytes:
    """One Opus packet carrying ``frames``: single-frame packets (code 0) with the same TOC byte,
    in order (RFC 6716, 3.2: code 1 for two of a size, code 2 for two of different sizes, code 3
    for more, constant or variable sizes)."""
    if len(frames) == 1:
        return frames[0]
    toc = frames[0][0] & 0xFC
    bodies = [frame[1:] for frame in frames]
    sizes = {len(body) for body in bodies}
    if len(bodies) == 2:
        if len(sizes) == 1:
            return bytes([toc | 1]) + bodies[0] + bodies[1]
        return bytes([toc | 2]) + _length(len(bodies[0])) + bodies[0] + bodies[1]
    if len(sizes) == 1:
        return bytes([toc | 3, len(bodies)]) + b"".join(bodies)
    lengths = b"".join(_length(len(body)) for body in bodies[:-1])
    return bytes([toc | 3, 0x80 | len(bodies)]) + lengths + b"".join(bodies)


def parse_rtp(data: bytes) -> tuple[bool, int, int, int, int, bytes] | None:
    """(marker, payload type, sequence number, timestamp, SSRC, payload) of an RTP packet, or None
    if it is not one (RFC 3550: version 2, CSRCs, header extension and padding skipped)."""
    if len(data) < 12 or data[0] >> 6 != RTP_VERSION:
        return None
    first, second, seq, timestamp, ssrc = struct.unpack_from("!BBHII", data)
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:
        end -= data[-1]
    if end <= offset:
        return None
    return bool(second & 0x80), second & 0x7F, seq, timestamp, ssrc, data[offset:end]


def _new_source() -> tuple[int, int]:
    """A fresh (SSRC, first sequence number) for the packed packets of a stream."""
    return secrets.randbits(32) or 1, secrets.randbits(16)


@dataclass
class Stream:
    """One room's forward into this packer: the frames held for the next packet.

    The packed packets are numbered by the packer (one sequence number per packet, as receivers
    expect) under an SSRC of its own, new whenever the numbering starts again: when the stream is
    first heard (a packer started again, or a stream forgotten while idle) and when the forward
    itself starts again (its numbers jump by more than a second's frames, or back). The mountpoint
    then sees a new source and carries its listeners' numbering on without a jump; under the same
    SSRC a jump back would look to them like packets they already had (SRTP's replay check)."""

    payload_type: int
    out_ssrc: int
    out_seq: int
    frames: list[bytes] = field(default_factory=list)
    marker: bool = False
    first_timestamp: int = 0
    next_seq: int = 0
    next_timestamp: int = 0
    held_samples: int = 0
    held_since: float = 0.0
    heard: float = 0.0


@dataclass
class Counts:
    frames: int = 0
    packets: int = 0
    foreign: int = 0  # from an address that is no media server node
    malformed: int = 0  # not RTP
    misaddressed: int = 0  # an SSRC naming a port outside this node's mountpoint range
    crowded: int = 0  # a new stream while STREAMS_PER_PORT streams per mountpoint port are held


class Packer:
    """The packing itself, without sockets: ``receive`` takes a datagram and returns what to send
    (``(packet, port)`` pairs), ``due`` what stalled streams must send now."""

    def __init__(self, *, packet_ms: int, ports: range, sources: set[str]):
        self.target_samples = SAMPLE_RATE * packet_ms // 1000
        # Held frames go out this long after the first of them, whether the rest came or not.
        self.hold = self.target_samples / SAMPLE_RATE + HOLD_GRACE_S
        self.ports, self.sources = ports, sources
        self.streams: dict[int, Stream] = {}
        self.max_streams = STREAMS_PER_PORT * len(ports)
        self.counts = Counts()
        self.logged: set[str] = set()

    def receive(self, data: bytes, sender: str, now: float) -> list[tuple[bytes, int]]:
        if sender not in self.sources:
            self.counts.foreign += 1
            self.log_once(f"foreign {sender}", "dropping datagrams from %s, not a media server node (%s)",
                           sender, ", ".join(sorted(self.sources)) or "none resolved")
            return []
        parsed = parse_rtp(data)
        if parsed is None:
            self.counts.malformed += 1
            self.log_once("malformed", "dropping a datagram from %s that is not RTP", sender)
            return []
        marker, payload_type, seq, timestamp, ssrc, payload = parsed
        port = ssrc & 0xFFFF
        if port not in self.ports:
            self.counts.misaddressed += 1
            self.log_once(f"port {port}", "dropping RTP for port %s, outside this node's mountpoints (%s-%s)",
                           port, self.ports.start, self.ports.stop - 1)
            return []
        stream = self.streams.get(ssrc)
        if stream is None and len(self.streams) >= self.max_streams:
            # Legitimate streams are one per mountpoint, a few while forwards move: a node that
            # sends this many is broken, and is not allowed to make the packer hold without bound.
            self.counts.crowded += 1
            self.log_once("crowded", "dropping a new stream: %s streams are held already", len(self.streams))
            return []
        self.counts.frames += 1
        out = []
        if stream is None:
            stream = self.streams[ssrc] = Stream(payload_type, *_new_source())
        elif ((seq - stream.next_seq) & 0xFFFF >= RESTART_FRAMES
              or (timestamp - stream.next_timestamp) & 0xFFFFFFFF >= SAMPLE_RATE):
            # The forward started again (a new forwarder, a Janus restart): a new source.
            if stream.frames:
                out.append(self._flush(ssrc, stream))
            stream.out_ssrc, stream.out_seq = _new_source()
        stream.heard = now
        packable = payload[0] & 3 == 0 and len(payload) - 1 <= MAX_FRAME_BYTES
        samples = frame_samples(payload[0])
        if stream.frames and not (
            packable and seq == stream.next_seq and timestamp == stream.next_timestamp
            and payload_type == stream.payload_type and payload[0] == stream.frames[0][0]
            and stream.held_samples + samples <= self.target_samples
        ):
            out.append(self._flush(ssrc, stream))
        stream.payload_type = payload_type
        stream.next_seq, stream.next_timestamp = (seq + 1) & 0xFFFF, (timestamp + samples) & 0xFFFFFFFF
        if not packable or samples >= self.target_samples:
            stream.frames, stream.marker, stream.first_timestamp = [payload], marker, timestamp
            out.append(self._flush(ssrc, stream))
            return out
        if not stream.frames:
            stream.marker, stream.first_timestamp, stream.held_since, stream.held_samples = marker, timestamp, now, 0
        stream.frames.append(payload)
        stream.held_samples += samples
        if stream.held_samples >= self.target_samples:
            out.append(self._flush(ssrc, stream))
        return out

    def due(self, now: float) -> list[tuple[bytes, int]]:
        """Held frames whose next frame is late go out as they are (a forward stopped, or a frame
        was lost before the packer); streams unheard for FORGET_AFTER_S are forgotten."""
        out = []
        for ssrc, stream in list(self.streams.items()):
            if stream.frames and now - stream.held_since >= self.hold:
                out.append(self._flush(ssrc, stream))
            if now - stream.heard >= FORGET_AFTER_S:
                del self.streams[ssrc]
        return out

    def wait(self, now: float) -> float:
        """Seconds until ``due`` has something to send: none while nothing is held (a second, so
        that forgotten streams are still forgotten)."""
        held = [stream.held_since + self.hold - now for stream in self.streams.values() if stream.frames]
        return max(0.0, min(held, default=1.0))

    def _flush(self, ssrc: int, stream: Stream) -> tuple[bytes, int]:
        header = struct.pack("!BBHII", RTP_VERSION << 6, (0x80 if stream.marker else 0) | stream.payload_type,
                             stream.out_seq, stream.first_timestamp, stream.out_ssrc)
        packet = header + pack(stream.frames)
        stream.out_seq = (stream.out_seq + 1) & 0xFFFF
        stream.frames, stream.held_samples = [], 0
        self.counts.packets += 1
        return packet, ssrc & 0xFFFF

    def log_once(self, kind: str, message: str, *args) -> None:
        if kind in self.logged or len(self.logged) >= 32:
            return
        self.logged.add(kind)
        logger.warning("Packer: " + message + "; further ones are only counted", *args)


class Server:
    """The packer of this node, on UDP: bound to ``JANUS_FORWARD_IFACE``:``JANUS_PACKER_PORT``,
    sending to the mountpoints on the same address (``manage.py media_packer``)."""

    def __init__(self, host: str | None = None, port: int | None = None):
        janus = settings.JANUS
        self.host = host or janus["FORWARD_IFACE"]
        self.port = janus["PACKER_PORT"] if port is None else port
        self.packer = Packer(
            packet_ms=janus["LISTENER_PACKET_MS"],
            ports=range(janus["FORWARD_PORT_BASE"], janus["FORWARD_PORT_BASE"] + janus["FORWARD_PORT_COUNT"]),
            sources=nodes.addresses(),
        )
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((self.host, self.port))
        self.sock.setblocking(False)
        self.running = True

    def send(self, datagrams: list[tuple[bytes, int]]) -> None:
        for packet, port in datagrams:
            try:
                self.sock.sendto(packet, (self.host, port))
            except OSError as error:  # a full buffer, or the port's last ICMP error: the next one goes
                self.packer.log_once(f"send {error.errno}", "could not send to port %s: %s", port, error)

    def step(self, timeout: float | None = None) -> None:
        """Wait for datagrams, or until held frames are due (``Packer.wait``), then handle both."""
        if timeout is None:
            timeout = self.packer.wait(time.monotonic())
        select.select([self.sock], [], [], timeout)
        for _ in range(2000):  # then the stalled streams get their turn, even under a flood
            try:
                data, (sender, _) = self.sock.recvfrom(PACKET_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # an ICMP error from an earlier send, reported on this socket
                continue
            self.send(self.packer.receive(data, sender, time.monotonic()))
        self.send(self.packer.due(time.monotonic()))

    def run(self) -> None:
        logger.info("Packer on %s:%s (UDP): %s ms packets for the listeners of mountpoints %s-%s", self.host, self.port,
                    settings.JANUS["LISTENER_PACKET_MS"], self.packer.ports.start, self.packer.ports.stop - 1)
        while self.running:
            self.step()
        counts = self.packer.counts
        logger.info("Packer stopped: %s frames in, %s packets out; dropped %s foreign, %s malformed, %s misaddressed, "
                    "%s over the stream limit", counts.frames, counts.packets, counts.foreign, counts.malformed,
                    counts.misaddressed, counts.crowded)
        self.sock.close()
