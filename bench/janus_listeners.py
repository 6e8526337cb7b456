"""Listeners per core on one Janus node: real WebRTC listeners on a Space's Streaming mountpoint,
and Janus's CPU time per added listener, with the room's own 20 ms packets and with the packer's
longer ones (``rooms.media.packer``), measured in the same run on the same listeners.

Janus runs with the project's own configuration (``deploy/janus/run``); the Space's AudioBridge
room, private mountpoint (PIN) and forward are made by the app's own code
(``JanusMediaServer.room_open``). A 440 Hz tone, Opus-encoded once as the room's forward encodes
its mix (mono, 48 kHz, 20 ms frames, libopus's own rate of 51 kbit/s), is sent as RTP every
20 ms, one frame a packet, as the AudioBridge sends the room's mix. Where it goes is switched as
the run goes, one ``--packet-ms`` value at a time: for 20, straight to the mountpoint (as the room
forwards with ``JANUS_LISTENER_PACKET_MS=20``); for 40 or 60, to a packer of that packet length
(``manage.py media_packer``, one process per value, started by the bench on a port of its own),
with the SSRC that names the mountpoint's port (``packer.ssrc_for``), and the packer sends the
frames two or three to a packet to the mountpoint (as the room forwards by default). The tone's
sequence numbers and timestamps run on across the switches.

Each listener is a light receive-only client (aiortc): its own Janus websocket with a signed
listener token, the Streaming plugin, ``watch`` with the PIN, an SDP answer, ICE and DTLS
(Janus's ``webrtcup``), then SRTP: every packet is counted as it arrives and one in ten is
decrypted and authenticated (``light_receivers``; what a browser does beyond, jitter buffer and
decoding, costs the client, not Janus). Janus's own per-connection counters (admin API) say how
much it sent to each. Listeners are run by several worker processes. At each step (0 first: the
baseline, measured in the same run) the listeners are added; then, for each packet length in turn,
the tone is switched to its route, every listener is checked to be receiving, and Janus's CPU time
(``/proc/<pid>/stat``, user + system) is read over a window, with the packer's own over the same
window. The report has a table per packet length, each with its CPU per added listener, and
compares each length's cost with the 20 ms packets' of the same run.

    .venv/bin/python bench/janus_listeners.py --steps 0 50 100 200 300 --seconds 20 --workers 2

``--packet-ms`` chooses the lengths compared (one or more of 20, 40, 60; default: 20 60). A knob
is compared by running the same command again with ``--janus-set SECTION.KEY=VALUE`` (that
janus.jcfg setting changed from the project's), e.g. ``--janus-set media.twcc_period=200``; with
``JANUS_LIBSRTP_DIR`` set, Janus loads the libsrtp2 found there, as ``deploy/janus/run`` does.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import cpu_seconds, free_port  # noqa: E402

STREAMING = "janus.plugin.streaming"


# --- the listeners (worker processes) ----------------------------------------------------------


class Listener:
    """One receive-only WebRTC listener on Janus's websocket API."""

    def __init__(self, url: str, token: str, mountpoint: int, pin: str):
        self.url, self.token, self.mountpoint, self.pin = url, token, mountpoint, pin
        self.pending: dict[str, asyncio.Future] = {}
        self.offer: asyncio.Future | None = None
        self.up: asyncio.Future | None = None
        self.pc = None
        self.receiver = None

    async def request(self, body: dict) -> dict:
        transaction = secrets.token_hex(6)
        future = asyncio.get_running_loop().create_future()
        self.pending[transaction] = future
        await self.ws.send(json.dumps({**body, "transaction": transaction, "token": self.token}))
        return await asyncio.wait_for(future, 30)

    async def read(self):
        async for raw in self.ws:
            message = json.loads(raw)
            kind, transaction = message.get("janus"), message.get("transaction")
            if kind == "ack":
                continue
            if kind == "webrtcup" and self.up is not None and not self.up.done():
                self.up.set_result(True)
            if "jsep" in message and self.offer is not None and not self.offer.done():
                self.offer.set_result(message)
            elif transaction in self.pending and not self.pending[transaction].done():
                self.pending.pop(transaction).set_result(message)

    async def start(self):
        import websockets
        from aiortc import RTCPeerConnection, RTCSessionDescription

        self.ws = await websockets.connect(self.url, subprotocols=["janus-protocol"], max_size=None, ping_interval=None)
        self.reader = asyncio.create_task(self.read())
        self.session = (await self.request({"janus": "create"}))["data"]["id"]
        attached = await self.request({"janus": "attach", "plugin": STREAMING, "session_id": self.session})
        self.handle = attached["data"]["id"]
        self.offer = asyncio.get_running_loop().create_future()
        self.up = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps({
            "janus": "message", "session_id": self.session, "handle_id": self.handle, "transaction": secrets.token_hex(6),
            "token": self.token, "body": {"request": "watch", "id": self.mountpoint, "pin": self.pin},
        }))
        offer = await asyncio.wait_for(self.offer, 30)
        self.pc = RTCPeerConnection()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["jsep"]["sdp"], type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.request({
            "janus": "message", "session_id": self.session, "handle_id": self.handle,
            "body": {"request": "start"}, "jsep": {"type": "answer", "sdp": self.pc.localDescription.sdp},
        })
        self.receiver = self.pc.getReceivers()[0]
        self.keepalive = asyncio.create_task(self.keep_alive())
        await asyncio.wait_for(self.up, 30)  # Janus says ICE and DTLS are done: media flows

    async def keep_alive(self):
        while True:  # as janus.js: every 25 s
            await asyncio.sleep(25)
            await self.ws.send(json.dumps({"janus": "keepalive", "session_id": self.session, "token": self.token,
                                           "transaction": secrets.token_hex(6)}))

    @property
    def packets(self) -> tuple[int, int]:
        """(SRTP datagrams of audio received, of which decrypted and authenticated: one in DECRYPT_EVERY)."""
        if not self.receiver:
            return 0, 0
        dtls = self.receiver.transport
        received = sum(getattr(protocol, "bench_rtp", 0) for protocol in dtls.transport._connection._protocols)
        return received, getattr(dtls, "bench_packets", 0)

    async def stop(self):
        for task in (getattr(self, "keepalive", None), getattr(self, "reader", None)):
            if task:
                task.cancel()
        if self.pc:
            await self.pc.close()
        if getattr(self, "ws", None):
            await self.ws.close()


DECRYPT_EVERY = 10


def light_receivers():
    """Light listeners: every SRTP datagram of audio (RTP) is counted where it arrives (the ICE
    socket) and one in ``DECRYPT_EVERY`` goes on to be decrypted and authenticated (SRTP's replay
    window takes the gaps), then dropped: no parsing, jitter buffer or decoding, a browser's work
    rather than Janus's. STUN (ICE, consent), DTLS and RTCP take aiortc's usual path."""
    from aioice.ice import StunProtocol
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    received = StunProtocol.datagram_received

    def datagram_received(self, data, addr):
        # RTP (RFC 7983: SRTP or SRTCP; RFC 5761: RTCP's packet types 192-223 in the second byte).
        # Janus's RTCP (about one a second) takes aiortc's usual path and is not counted: a
        # listener's count is the audio packets it had.
        if len(data) > 1 and 127 < data[0] < 192 and not 191 < data[1] < 224:
            self.bench_rtp = getattr(self, "bench_rtp", 0) + 1
            if self.bench_rtp % DECRYPT_EVERY:
                return
        received(self, data, addr)

    async def decrypted(self, data, arrival_time_ms):
        self.bench_packets = getattr(self, "bench_packets", 0) + 1

    StunProtocol.datagram_received = datagram_received
    RTCDtlsTransport._handle_rtp_data = decrypted


def worker(connection, url: str, mountpoint: int, pin: str, tokens: list[str]):
    light_receivers()

    async def main():
        listeners: list[Listener] = []
        loop = asyncio.get_running_loop()
        while True:
            command, argument = await loop.run_in_executor(None, connection.recv)
            if command == "add":
                semaphore = asyncio.Semaphore(10)

                async def started(token: str) -> Listener:
                    async with semaphore:
                        for attempt in range(3):
                            listener = Listener(url, token, mountpoint, pin)
                            try:
                                await listener.start()
                                return listener
                            except Exception:
                                await listener.stop()
                                if attempt == 2:
                                    raise
                                await asyncio.sleep(1)

                first = len(listeners)
                listeners.extend(await asyncio.gather(*(started(tokens[first + i]) for i in range(argument))))
                connection.send(len(listeners))
            elif command == "packets":
                connection.send([listener.packets for listener in listeners])
            elif command == "stop":
                await asyncio.gather(*(listener.stop() for listener in listeners), return_exceptions=True)
                connection.send(True)
                return

    asyncio.run(main())


# --- the source: a tone into the mountpoint, as the room's mix is ------------------------------


# What the AudioBridge's forward sends: its mix Opus-encoded at 48 kHz, mono, 20 ms, with libopus
# choosing the bitrate (the room is created without ``default_bitrate``): libopus's automatic
# rate is 60 * 48000 / 960 + 48000 * 1 = 51,000 bit/s.
FORWARD_BITRATE = 51000
FRAME_MS = 20  # the AudioBridge's frames, one per RTP packet


def opus_frames(bitrate: int) -> list[bytes]:
    """A second of a 440 Hz tone, Opus-encoded as the room's forward encodes its mix (mono,
    48 kHz, VoIP mode, 20 ms frames) at ``bitrate``: the payloads the AudioBridge would send."""
    import math
    from fractions import Fraction

    import av

    encoder = av.CodecContext.create("libopus", "w")
    encoder.bit_rate, encoder.format, encoder.layout = bitrate, "s16", "mono"
    encoder.sample_rate, encoder.time_base = 48000, Fraction(1, 48000)
    encoder.options = {"application": "voip", "frame_duration": str(FRAME_MS)}
    size = 48 * FRAME_MS
    frames = []
    for n in range(1000 // FRAME_MS):
        samples = array_bytes([int(8000 * math.sin(2 * math.pi * 440 * (n * size + i) / 48000)) for i in range(size)])
        frame = av.AudioFrame(format="s16", layout="mono", samples=size)
        frame.planes[0].update(samples)
        frame.sample_rate, frame.pts, frame.time_base = 48000, n * size, Fraction(1, 48000)
        frames.extend(bytes(packet) for packet in encoder.encode(frame))
    return frames


def array_bytes(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


class Route:
    """Where the tone goes, switched by the main thread: ``target`` is (port on 127.0.0.1, SSRC),
    replaced whole."""

    def __init__(self, port: int, ssrc: int):
        self.target = (port, ssrc)


def send_tone(route: Route, frames: list[bytes], stop: threading.Event):
    """20 ms frames, one per RTP packet, as the AudioBridge's forward sends them, to wherever
    ``route`` says when each one goes; sequence numbers and timestamps run on across switches."""
    size = 48 * FRAME_MS
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        seq, start = 0, time.monotonic()
        while not stop.is_set():
            port, ssrc = route.target
            header = struct.pack("!BBHII", 0x80, 111, seq & 0xFFFF, (seq * size) & 0xFFFFFFFF, ssrc)
            try:
                udp.sendto(header + frames[seq % len(frames)], ("127.0.0.1", port))
            except OSError:  # a full buffer: the next one goes
                pass
            seq += 1
            time.sleep(max(0.0, start + seq * FRAME_MS / 1000 - time.monotonic()))


def start_packer(env: dict, packet_ms: int, config_dir: str) -> tuple[subprocess.Popen, int]:
    """This node's packer (``manage.py media_packer``) packing ``packet_ms``, on a port of its own;
    returned once it says it listens."""
    port = free_port()
    log = Path(config_dir) / f"packer-{packet_ms}.log"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "media_packer"], cwd=ROOT,
        env={**env, "JANUS_PACKER_PORT": str(port), "JANUS_LISTENER_PACKET_MS": str(packet_ms)},
        stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while "Packer on" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the {packet_ms} ms packer did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    return process, port


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the run -----------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 50, 100, 200, 300])
    parser.add_argument("--seconds", type=float, default=20, help="measuring window per step")
    parser.add_argument("--workers", type=int, default=2, help="listener processes")
    parser.add_argument("--source-bitrate", type=int, default=FORWARD_BITRATE,
                        help="Opus bitrate of the tone fed to the mountpoint (default: the room forward's)")
    parser.add_argument("--packet-ms", type=int, nargs="+", default=[20, 60], choices=(20, 40, 60),
                        help="audio per packet the mountpoint receives, compared in turn at each step: 20 straight "
                             "from the room, 40 or 60 through a packer (default: 20 60)")
    parser.add_argument("--janus-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="run Janus with this janus.jcfg setting changed from the project's (a knob to compare)")
    args = parser.parse_args()
    steps = sorted(set(args.steps) | {0})
    modes = list(dict.fromkeys(args.packet_ms))

    http_port, ws_port, admin_port = free_port(), free_port(), free_port()
    config_dir = tempfile.mkdtemp(prefix="janus-bench-")
    env = {
        **os.environ, "JANUS_HTTP_PORT": str(http_port), "JANUS_WS_PORT": str(ws_port), "JANUS_ADMIN_PORT": str(admin_port),
        "JANUS_CONFIG_DIR": config_dir, "JANUS_RTP_RANGE": "40000-41999", "JANUS_FORWARD_PORT_BASE": "42000",
        "JANUS_FORWARD_PORT_COUNT": "100", "JANUS_ENABLED": "1", "JANUS_NODES": "",
        # The room's own forward goes straight to the mountpoint (it sends nothing: nobody speaks);
        # the packers are the bench's own, each told its packet length.
        "JANUS_LISTENER_PACKET_MS": "20",
        # The room is opened straight through the media layer, with no Space behind it (and no
        # database): no captions forward to ask about.
        "CAPTIONS_ENABLED": "0",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
    import django

    django.setup()
    import requests

    from rooms.media import janus as media

    if args.janus_set:
        # As deploy/janus/run does, with the settings asked for changed in the rendered janus.jcfg.
        subprocess.run([sys.executable, "manage.py", "janus_config", "--out", config_dir], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
        rendered = Path(config_dir) / "janus.jcfg"
        rendered.write_text(override(rendered.read_text(), args.janus_set))
        command = ["janus", "-C", str(rendered), "-F", config_dir]
        if env.get("JANUS_LIBSRTP_DIR"):  # as deploy/janus/run does
            env["LD_LIBRARY_PATH"] = ":".join(filter(None, [env["JANUS_LIBSRTP_DIR"], env.get("LD_LIBRARY_PATH")]))
    else:
        command = ["deploy/janus/run"]
    janus = subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(Path(config_dir) / "janus.log", "w"),
                             stderr=subprocess.STDOUT, start_new_session=True)
    stop_tone = threading.Event()
    workers = []
    packers: dict[int, tuple[subprocess.Popen, int]] = {}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.post(media.config()["URL"], json={"janus": "info", "transaction": "t"}, timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "Janus did not start"
            time.sleep(0.2)
        room, pin = 1 + secrets.randbelow(2**52 - 1), secrets.token_hex(16)
        media.JanusMediaServer().room_open(room_id=room, allowed=[], pin=pin)
        with media.plugin(media.STREAMING) as streaming:
            port = media.JanusMediaServer()._mountpoint_info(streaming, room)["media"][0]["port"]
        for ms in modes:
            if ms > FRAME_MS:
                packers[ms] = start_packer(env, ms, config_dir)
        from rooms.media import packer

        straight, packed = (port, secrets.randbits(32)), packer.ssrc_for(room, port)
        route = Route(*straight)
        frames = opus_frames(args.source_bitrate)
        threading.Thread(target=send_tone, args=(route, frames, stop_tone), daemon=True).start()

        def switch(ms: int) -> None:
            # Each packer sends under an SSRC of its own: the mountpoint takes every switch as a
            # new source and numbers on for its listeners.
            route.target = straight if ms == FRAME_MS else (packers[ms][1], packed)

        context = multiprocessing.get_context("spawn")
        most = max(steps)
        for n in range(args.workers):
            ours, theirs = context.Pipe()
            tokens = [media.sign_token([STREAMING], holder=f"listener-bench-{n}-{i}") for i in range(most)]
            process = context.Process(target=worker, args=(theirs, f"ws://127.0.0.1:{ws_port}/", room, pin, tokens), daemon=True)
            process.start()
            workers.append((process, ours))

        rows: dict[int, list[dict]] = {ms: [] for ms in modes}
        present = 0
        for step in steps:
            added = time.monotonic()
            while present < step:
                share = [(step - present) // args.workers + (1 if i < (step - present) % args.workers else 0) for i in range(args.workers)]
                for (_, pipe), count in zip(workers, share):
                    pipe.send(("add", count))
                for (_, pipe), count in zip(workers, share):
                    pipe.recv()
                present = step
            connect_s = time.monotonic() - added
            for ms in modes:
                switch(ms)
                packer_pid = packers[ms][0].pid if ms in packers else None
                before = counts(workers)
                time.sleep(3)  # everyone connected is receiving: each one's counts grew
                sent0 = janus_sent(media)
                settled, received_t0 = counts(workers), time.monotonic()
                silent = sum(1 for a, b in zip(before, settled) if b[0] <= a[0] or b[1] <= a[1])
                cpu0, packer0, t0 = cpu_seconds(janus.pid), packer_pid and cpu_seconds(packer_pid), time.monotonic()
                time.sleep(args.seconds)
                cpu1, packer1, t1 = cpu_seconds(janus.pid), packer_pid and cpu_seconds(packer_pid), time.monotonic()
                after, received_t1 = counts(workers), time.monotonic()
                sent1 = janus_sent(media)
                per_second = 1000 / ms  # packets a listener should have each second
                rates = sorted((sent1[h][0] - sent0[h][0]) / (sent1[h][1] - sent0[h][1]) / per_second
                               for h in sent0.keys() & sent1.keys())
                window = t1 - t0
                received = [b[0] - a[0] for a, b in zip(settled, after)]
                decrypted = sum(b[1] - a[1] for a, b in zip(settled, after))
                expected = (received_t1 - received_t0) * per_second  # packets each listener should have had
                rows[ms].append({
                    "listeners": step, "cpu": (cpu1 - cpu0) / window, "connect_s": connect_s, "silent": silent,
                    "packer_cpu": (packer1 - packer0) / window if packer_pid else None,
                    "median_share": statistics.median(received) / expected if received else None,
                    "min_share": min(received) / expected if received else None,
                    "decrypted": decrypted / (sum(received) / DECRYPT_EVERY) if sum(received) else None,
                    "rss_mb": rss_mb(janus.pid),
                    "sent_share": (statistics.median(rates), rates[0], len(rates)) if step and rates else None,
                })
                packer_note = f", packer {100 * rows[ms][-1]['packer_cpu']:.1f} %" if packer_pid else ""
                print(f"  {step} listeners (added in {connect_s:.1f} s), {ms} ms packets: Janus "
                      f"{100 * rows[ms][-1]['cpu']:.1f} % of a core{packer_note}", file=sys.stderr, flush=True)
        report(rows, args)
    finally:
        for process, pipe in workers:
            try:
                pipe.send(("stop", None))
                if pipe.poll(30):
                    pipe.recv()
            except (BrokenPipeError, EOFError):
                pass
            process.terminate()
        stop_tone.set()
        for process, _ in packers.values():
            stop_process(process)
        os.killpg(janus.pid, signal.SIGTERM)
        janus.wait(timeout=10)
        shutil.rmtree(config_dir, ignore_errors=True)


def override(config: str, settings: list[str]) -> str:
    """``config`` (janus.jcfg's text) with each ``section.key=value`` set: the key's line replaced
    where the section has it, else added at the section's start."""
    lines = config.splitlines()
    for setting in settings:
        name, value = setting.split("=", 1)
        section, key = name.split(".", 1)
        start = lines.index(f"{section}: {{")
        end = lines.index("}", start)
        line = f"\t{key} = {value}"
        found = [i for i in range(start + 1, end) if lines[i].strip().split(" ")[0] == key]
        if found:
            lines[found[0]] = line
        else:
            lines.insert(start + 1, line)
    return "\n".join(lines) + "\n"


def counts(workers) -> list[tuple[int, int]]:
    everyone = []
    for _, pipe in workers:
        pipe.send(("packets", None))
    for _, pipe in workers:
        everyone.extend(pipe.recv())
    return everyone


def janus_sent(media) -> dict[int, tuple[int, float]]:
    """Per Janus handle: audio packets it has sent so far, and when that was read (admin API)."""
    sent = {}
    for session in media._admin_request("", {"janus": "list_sessions"}).get("sessions", []):
        for handle in media._admin_request(f"/{session}", {"janus": "list_handles"}).get("handles", []):
            info = media._admin_request(f"/{session}/{handle}", {"janus": "handle_info"}).get("info", {})
            medias = (info.get("webrtc") or {}).get("media") or {}
            sent[handle] = (sum(int(m.get("stats", {}).get("out", {}).get("packets", 0)) for m in medias.values()), time.monotonic())
    return sent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slope(rows: list[dict]) -> float | None:
    """CPU per added listener, least squares through every step: CPU = base + slope * listeners."""
    if not any(row["listeners"] for row in rows):
        return None
    xs, ys = [r["listeners"] for r in rows], [r["cpu"] for r in rows]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)


def report(rows: dict[int, list[dict]], args):
    slopes = {}
    for ms, table in rows.items():
        base = table[0]["cpu"]
        packed = ms > FRAME_MS
        how = (f"the room's 20 ms frames {ms // FRAME_MS} to a packet through the packer" if packed
               else "the room's own, straight to the mountpoint")
        print(f"\n{ms} ms packets ({how}): Janus listeners per core (one node, {os.cpu_count()} cores; "
              f"baseline: 0 listeners, same run)\n")
        packer_head, packer_rule = (" packer CPU (% of a core) |", " ---: |") if packed else ("", "")
        print(f"| listeners | Janus CPU (% of a core) |{packer_head} over baseline | per added listener | ratio to baseline "
              "| sent by Janus (median / lowest, handles) | received (median / lowest) | sampled packets that decrypted "
              "| silent | Janus RSS |")
        print(f"| ---: | ---: |{packer_rule} ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in table:
            extra = row["cpu"] - base
            per = f"{100 * extra / row['listeners']:.3f} %" if row["listeners"] else "-"
            share = f"{100 * row['median_share']:.0f} % / {100 * row['min_share']:.0f} %" if row["median_share"] is not None else "-"
            ratio = f"{row['cpu'] / base:.1f}×" if base > 0 else "-"
            sent = (f"{100 * row['sent_share'][0]:.0f} % / {100 * row['sent_share'][1]:.0f} % ({row['sent_share'][2]})"
                    if row["sent_share"] else "-")
            decrypted = f"{100 * row['decrypted']:.0f} %" if row.get("decrypted") is not None else "-"
            packer_cell = f" {100 * row['packer_cpu']:.2f} |" if packed else ""
            print(f"| {row['listeners']} | {100 * row['cpu']:.2f} |{packer_cell} {100 * extra:+.2f} | {per} | {ratio} | {sent} "
                  f"| {share} | {decrypted} | {row['silent']} | {row['rss_mb']:.0f} MB |")
        slopes[ms] = slope(table)
        if slopes[ms] is not None:
            print(f"\nCPU per added listener (least squares over the steps): {100 * slopes[ms]:.4f} % of a core"
                  f" -> {1 / slopes[ms]:,.0f} listeners per core" if slopes[ms] > 0 else "\nno measurable CPU per listener")
    if any(value is not None for value in slopes.values()):
        reference = slopes.get(FRAME_MS)
        print("\nPer added listener, by packet length (same run, same listeners):\n")
        for ms, value in slopes.items():
            if value is None:
                continue
            line = f"- {ms} ms packets: {100 * value:.4f} % of a core per listener"
            line += f", {1 / value:,.0f} per core" if value > 0 else " (none measurable)"
            if ms != FRAME_MS and reference is not None and reference > 0:
                line += f", {value / reference:.2f}x the 20 ms cost"
            if ms > FRAME_MS:
                line += f"; the packer: {100 * statistics.fmean(r['packer_cpu'] for r in rows[ms]):.2f} % of a core"
            print(line)
    extra = f" --packet-ms {' '.join(map(str, args.packet_ms))}"
    extra += "".join(f" --janus-set {setting}" for setting in args.janus_set)
    if args.source_bitrate != FORWARD_BITRATE:
        extra += f" --source-bitrate {args.source_bitrate}"
    library = f"JANUS_LIBSRTP_DIR={os.environ['JANUS_LIBSRTP_DIR']} " if os.environ.get("JANUS_LIBSRTP_DIR") else ""
    print(f"\ncommand: {library}.venv/bin/python bench/janus_listeners.py --steps {' '.join(map(str, args.steps))} "
          f"--seconds {args.seconds:g} --workers {args.workers}{extra}")


if __name__ == "__main__":
    main()
