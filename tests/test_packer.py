"""The listeners' packer (rooms.media.packer): the room's 20 ms Opus frames, three to a packet.

The audio must come out bit for bit: the packed packets, decoded by libopus (PyAV), give exactly
the samples the frames give one by one. Whatever is not the room's forward from a media server
node, or names a port outside the node's mountpoints, is dropped; a gap, a change of Opus mode or
a stalled forward sends what is held at once, so nothing waits for a frame that is not coming.
"""

import math
import os
import signal
import socket
import struct
import sys
import time
from fractions import Fraction

import av
import pytest

from rooms.media import packer
from rooms.media.packer import Packer, pack, parse_rtp, ssrc_for
from tests.processes import ROOT, Process, free_port, wait_for

PORTS = range(30000, 30100)
NODE = "127.0.0.1"


def opus_frames(count: int, *, bitrate: int = 32000, vbr: bool = True) -> list[bytes]:
    """``count`` 20 ms Opus packets (one frame each, code 0) of a voice-like sweep, mono 48 kHz."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.bit_rate, encoder.format, encoder.layout = bitrate, "s16", "mono"
    encoder.sample_rate, encoder.time_base = 48000, Fraction(1, 48000)
    encoder.options = {"application": "voip", "frame_duration": "20", "vbr": "on" if vbr else "off"}
    frames = []
    for n in range(count + 4):
        t0 = n * 960
        samples = [int(6000 * math.sin(2 * math.pi * (200 + 3 * ((t0 + i) % 4800) / 48) * (t0 + i) / 48000)) for i in range(960)]
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(struct.pack(f"<{len(samples)}h", *samples))
        frame.sample_rate, frame.pts, frame.time_base = 48000, t0, Fraction(1, 48000)
        frames.extend(bytes(packet) for packet in encoder.encode(frame))
    assert all(f[0] & 3 == 0 for f in frames)
    return frames[:count]


def decode(packets: list[bytes]) -> tuple[int, bytes]:
    """(samples, PCM) that libopus decodes from these packets, in order."""
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout = 48000, "mono"
    samples, pcm = 0, b""
    for payload in packets:
        for frame in decoder.decode(av.Packet(payload)):
            samples += frame.samples
            pcm += bytes(frame.planes[0])[: frame.samples * frame.format.bytes]
    return samples, pcm


def rtp(payload: bytes, seq: int, timestamp: int, ssrc: int, *, marker: bool = False, pt: int = 111) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def feed(p: Packer, frames: list[bytes], ssrc: int, *, seq: int = 65534, timestamp: int = 2**32 - 960, now: float = 0.0,
         sender: str = NODE) -> list[tuple[bytes, int]]:
    out = []
    for n, frame in enumerate(frames):
        out += p.receive(rtp(frame, seq + n, timestamp + 960 * n, ssrc, marker=n == 0), sender, now + 0.02 * n)
    return out


def groups(frames: list[bytes], per_packet: int) -> list[list[int]]:
    """Which frames share a packet: consecutive ones of one Opus mode (TOC byte), per_packet at most."""
    out: list[list[int]] = []
    for n, frame in enumerate(frames):
        if out and len(out[-1]) < per_packet and frames[out[-1][0]][0] == frame[0]:
            out[-1].append(n)
        else:
            out.append([n])
    return out


@pytest.mark.parametrize("packet_ms, vbr", [(60, True), (60, False), (40, True), (40, False)])
def test_packed_frames_decode_to_exactly_the_same_audio(packet_ms, vbr):
    # The sweep makes libopus change its mode (TOC byte) after nine frames, as a voice does.
    frames = opus_frames(14, vbr=vbr)
    assert len({f[0] for f in frames}) > 1
    expected = groups(frames, packet_ms // 20)
    p = Packer(packet_ms=packet_ms, ports=PORTS, sources={NODE})
    ssrc = ssrc_for(7, 30042)
    # Sequence numbers and timestamps wrap around on the way: the packer does not care.
    out = feed(p, frames, ssrc) + p.due(10.0)
    assert len(out) == len(expected) < len(frames) and {port for _, port in out} == {30042}
    parsed = [parse_rtp(packet) for packet, _ in out]
    first = parsed[0][2]  # the packer numbers its packets itself, one apart
    assert [seq for _, _, seq, _, _, _ in parsed] == [(first + n) & 0xFFFF for n in range(len(out))]
    assert [ts for _, _, _, ts, _, _ in parsed] == [(2**32 - 960 + 960 * group[0]) & 0xFFFFFFFF for group in expected]
    assert [marker for marker, *_ in parsed] == [True] + [False] * (len(out) - 1)
    assert len({s for _, _, _, _, s, _ in parsed}) == 1 and {pt for _, pt, *_ in parsed} == {111}
    payloads = [payload for *_, payload in parsed]
    assert payloads == [pack([frames[n] for n in group]) for group in expected]
    samples, pcm = decode(payloads)
    assert (samples, pcm) == decode(frames) and samples == len(frames) * 960 and any(pcm)


def test_long_frames_are_packed_with_two_byte_lengths():
    body = [bytes([0x78]) + bytes(range(256)) * 2, bytes([0x78]) + b"\x01" * 300, bytes([0x78]) + b"\x02" * 10]
    packed = pack(body)
    # Code 3, variable sizes, three frames; 512 = 252 + 0 + 4 * 65; 300 = 252 + 0 + 4 * 12.
    assert packed[:6] == bytes([0x78 | 3, 0x80 | 3, 252, 65, 252, 12])
    assert packed[6:] == body[0][1:] + body[1][1:] + body[2][1:]
    assert pack(body[:1]) == body[0]
    assert pack([body[1], body[1]]) == bytes([0x78 | 1]) + body[1][1:] * 2
    assert pack([body[2], body[1]]) == bytes([0x78 | 2, 10]) + body[2][1:] + body[1][1:]


def test_a_gap_or_a_change_of_mode_sends_what_is_held_at_once():
    frames = opus_frames(6)
    p = Packer(packet_ms=60, ports=PORTS, sources={NODE})
    ssrc = ssrc_for(1, 30001)
    assert p.receive(rtp(frames[0], 10, 0, ssrc), NODE, 0.0) == []
    # Frame 11 was lost before the packer: 10 goes alone, 12 starts the next packet.
    out = p.receive(rtp(frames[2], 12, 1920, ssrc), NODE, 0.04)
    assert [parse_rtp(packet)[5] for packet, _ in out] == [frames[0]]
    # Another Opus mode (another TOC byte: the encoder switched bandwidth): what is held goes.
    other = bytes([frames[3][0] ^ 0x08]) + frames[3][1:]
    out = p.receive(rtp(other, 13, 2880, ssrc), NODE, 0.06)
    assert [parse_rtp(packet)[5] for packet, _ in out] == [frames[2]]
    # A packet that already holds several frames passes as it is, after what is held.
    several = pack(frames[4:6])
    out = p.receive(rtp(several, 14, 3840, ssrc), NODE, 0.08)
    assert [parse_rtp(packet)[5] for packet, _ in out] == [other, several]
    first = parse_rtp(out[0][0])[2] - 2  # the packer's own sequence, no gap
    assert [parse_rtp(packet)[2] for packet, _ in out] == [first + 2, first + 3]


def test_a_forward_that_starts_again_gets_a_new_source_so_listeners_numbering_never_jumps_back():
    """Under one SSRC the mountpoint passes a jump in sequence numbers on to the listeners, and a
    jump back looks to them like packets they already had. A forward that starts again (numbers
    from elsewhere), a packer started again, or a stream forgotten while idle: a new SSRC, which
    the mountpoint takes as a new source and numbers on from where its listeners are."""
    frames = opus_frames(9)[:6]  # one Opus mode throughout
    p = Packer(packet_ms=60, ports=PORTS, sources={NODE})
    ssrc = ssrc_for(3, 30003)

    def sources(out):
        return [(parse_rtp(packet)[4], parse_rtp(packet)[2]) for packet, _ in out]

    first = sources(feed(p, frames, ssrc, seq=100, timestamp=96000))
    assert len(first) == 2 and first[0][0] == first[1][0]
    # A frame lost on the way (seq 106): the same source, the next number.
    lost = sources(feed(p, frames[:3], ssrc, seq=107, timestamp=96000 + 7 * 960, now=1.0))
    assert lost == [(first[0][0], (first[-1][1] + 1) & 0xFFFF)]
    # The forward starts again with numbers from before (a new forwarder): a new source.
    again = sources(feed(p, frames[:3], ssrc, seq=5, timestamp=96000 + 10 * 960, now=2.0))
    assert len(again) == 1 and again[0][0] != first[0][0]
    # Its clock jumps ahead, its numbers do not: a new source too.
    ahead = sources(feed(p, frames[:3], ssrc, seq=8, timestamp=10_000_000, now=3.0))
    assert len(ahead) == 1 and ahead[0][0] not in (first[0][0], again[0][0])
    # Another packer (this one started again) numbers the same forward under another source.
    other = Packer(packet_ms=60, ports=PORTS, sources={NODE})
    assert sources(feed(other, frames[:3], ssrc, seq=11, timestamp=10_000_000 + 2880))[0][0] != ahead[0][0]


def test_a_stalled_forward_sends_its_held_frames_after_the_hold():
    frames = opus_frames(2)
    p = Packer(packet_ms=60, ports=PORTS, sources={NODE})
    ssrc = ssrc_for(1, 30001)
    assert p.wait(99.0) == 1.0  # nothing held: nothing to wake up for
    feed(p, frames, ssrc, now=100.0)
    assert p.wait(100.05) == pytest.approx(0.06 + packer.HOLD_GRACE_S - 0.05)
    assert p.due(100.05) == []  # the third frame is not late yet
    out = p.due(100.0 + 0.06 + packer.HOLD_GRACE_S + 0.001)
    assert [parse_rtp(packet)[5] for packet, _ in out] == [pack(frames)]
    assert p.due(101.0) == [] and ssrc in p.streams
    assert p.due(100.0 + packer.FORGET_AFTER_S + 1) == [] and p.streams == {}


def test_what_is_not_a_nodes_forward_to_one_of_its_mountpoints_is_dropped_and_counted():
    frame = opus_frames(1)[0]
    p = Packer(packet_ms=60, ports=PORTS, sources={NODE})
    assert p.receive(rtp(frame, 1, 0, ssrc_for(1, 30001)), "127.0.0.2", 0.0) == []  # not a node
    assert p.receive(rtp(frame, 1, 0, ssrc_for(1, 22)), NODE, 0.0) == []  # ssh, not a mountpoint
    assert p.receive(rtp(frame, 1, 0, ssrc_for(1, 30100)), NODE, 0.0) == []  # just past the range
    for junk in (b"", b"\x80" * 11, bytes([0x40]) + bytes(20), bytes([0x90]) + bytes(11), bytes([0xA0]) + bytes(11) + b"\x40"):
        assert p.receive(junk, NODE, 0.0) == []  # too short; version 1; extension cut off; all padding
    counts = p.counts
    assert (counts.foreign, counts.misaddressed, counts.malformed, counts.frames, counts.packets) == (1, 2, 5, 0, 0)
    assert p.streams == {}


def test_a_node_cannot_make_the_packer_hold_streams_without_bound():
    frame = opus_frames(1)[0]
    p = Packer(packet_ms=60, ports=range(30000, 30002), sources={NODE})
    for room in range(8):  # 4 per port: what several moves of a room's forward can leave for a while
        assert p.receive(rtp(frame, 1, 0, ssrc_for(room, 30000 + room % 2)), NODE, 0.0) == []
    assert p.receive(rtp(frame, 1, 0, ssrc_for(99, 30000)), NODE, 0.0) == []
    assert len(p.streams) == 8 and p.counts.crowded == 1
    # Streams already held go on; forgotten ones make room.
    assert p.receive(rtp(frame, 2, 960, ssrc_for(0, 30000)), NODE, 0.01) == [] and p.counts.crowded == 1
    p.due(packer.FORGET_AFTER_S + 1)
    assert p.receive(rtp(frame, 1, 0, ssrc_for(99, 30000)), NODE, packer.FORGET_AFTER_S + 1) == [] and len(p.streams) == 1


def test_ssrc_for_keeps_the_port_and_tells_rooms_apart():
    assert ssrc_for(0x12345, 22001) & 0xFFFF == 22001
    assert ssrc_for(1, 22001) != ssrc_for(2, 22001)
    assert ssrc_for(0, 1) != 0
    with pytest.raises(ValueError):
        ssrc_for(1, 70000)


def test_the_packer_process_packs_for_its_node_and_ignores_the_rest(tmp_path):
    """``manage.py media_packer`` on UDP: six frames from the node's address come out as two
    packets at the mountpoint's port; the same from another loopback address, or for a port
    outside the range, come out nowhere; SIGTERM stops it at once."""
    base = 30000 + (os.getpid() % 50) * 100
    mountpoint = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mountpoint.bind(("127.0.0.1", base + 7))
    mountpoint.settimeout(3)
    port = free_port()
    env = {**os.environ, "JANUS_PACKER_PORT": str(port), "JANUS_FORWARD_IFACE": "127.0.0.1",
           "JANUS_FORWARD_PORT_BASE": str(base), "JANUS_FORWARD_PORT_COUNT": "50", "JANUS_NODES": "",
           "JANUS_LISTENER_PACKET_MS": "60"}
    process = Process([sys.executable, "manage.py", "media_packer"], env, tmp_path / "packer.log")
    frames = opus_frames(6)
    try:
        assert wait_for(lambda: "Packer on 127.0.0.1" in process.tail(), timeout=30), process.tail()

        def send(sender: str, ssrc: int):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((sender, 0))
                for n, frame in enumerate(frames):
                    udp.sendto(rtp(frame, n, 960 * n, ssrc), ("127.0.0.1", port))
                    time.sleep(0.005)

        send("127.0.0.1", ssrc_for(5, base + 7))
        got = [parse_rtp(mountpoint.recv(2048))[5] for _ in range(2)]
        assert got == [pack(frames[:3]), pack(frames[3:])]
        mountpoint.settimeout(0.5)
        send("127.0.0.2", ssrc_for(5, base + 7))  # another address: not a node
        send("127.0.0.1", ssrc_for(5, base + 60))  # a port outside the node's mountpoints
        with pytest.raises(TimeoutError):
            mountpoint.recv(2048)
        assert wait_for(lambda: "not a media server node" in process.tail() and "outside this node's mountpoints" in process.tail(),
                        timeout=5), process.tail()
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(timeout=5) == 0
        assert "6 frames in, 2 packets out; dropped 6 foreign, 0 malformed, 6 misaddressed, 0 over" in process.tail()
    finally:
        mountpoint.close()
        process.stop()


def test_the_packer_idles_when_listeners_get_the_rooms_own_packets(tmp_path):
    env = {**os.environ, "JANUS_LISTENER_PACKET_MS": "20", "JANUS_PACKER_PORT": str(free_port())}
    process = Process([sys.executable, "manage.py", "media_packer"], env, tmp_path / "packer.log")
    try:
        assert wait_for(lambda: "nothing to do" in process.tail(), timeout=30), process.tail()
        assert process.process.poll() is None
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(timeout=5) == 0
    finally:
        process.stop()


def test_the_settings_refuse_a_packet_length_listeners_cannot_get(tmp_path):
    import subprocess

    for bad in ("30", "0", "sixty"):
        result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "JANUS_LISTENER_PACKET_MS": bad})
        assert result.returncode != 0
        assert "JANUS_LISTENER_PACKET_MS: 20, 40 or 60" in result.stderr
