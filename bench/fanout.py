"""Fan-out: how long until every websocket in a Space has a speaker toggle, against a baseline.

For each N: N websocket clients join one live Space on real daphne processes (the project's ASGI
app and channel layer); a speaker toggle is made through ``participant_set_role``; each client
records when the ``participant.role_changed`` frame arrives, and we report, from just before the
service call, p50, p99 and max over all toggles, and the frames that did not arrive within 30 s.
In the same run, alternating with the toggles, the same frame, byte for byte, is broadcast to N
other clients by a minimal ``websockets`` server: the baseline. Also the memory per idle connection (server RSS growth / N),
and how long the N joins took, with the PostgreSQL transactions they cost.

Clients send no session and no ticket, so (since the websocket needs one of them to arrive) they
are watchers of the Space, as page viewers are: they get every frame through the same relay, without
joining; ``bench/join_storm.py`` measures arrivals. They are spread over client processes that speak the websocket protocol through the ``websockets`` library's
Sans-I/O layer, which keeps their own cost small next to the servers'.

    .venv/bin/python bench/fanout.py --clients 100 1000 5000 --layers core pubsub
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import cpu_seconds, free_port  # noqa: E402,F401  (the project's; free_port for the other benches too)

PG = "postgres://postgres@127.0.0.1:5432"
DB_NAME = "bench_fanout"
MARKER = "participant.role_changed"
DEADLINE = 30.0


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


# --- client processes --------------------------------------------------------------------------


def client_worker() -> None:
    """A client process: many websocket connections on one event loop, driven by JSON lines on
    stdin (connect, arm, collect, close), answering on stdout."""
    from websockets.client import ClientProtocol
    from websockets.frames import Opcode
    from websockets.uri import parse_uri

    raise_open_files_limit()
    marker = MARKER.encode()

    class Client(asyncio.Protocol):
        def __init__(self, uri: str, hello: str = ""):
            self.ws = ClientProtocol(parse_uri(uri), origin="http://127.0.0.1")
            self.hello = hello.encode()  # sent once, after the first frame (join_storm: "listening")
            self.first_frame = asyncio.get_running_loop().create_future()
            self.armed = False
            self.arrived: float | None = None
            self.sample = b""
            self.transport = None

        def connection_made(self, transport):
            self.transport = transport
            self.ws.send_request(self.ws.connect())
            self.flush()

        def data_received(self, data):
            now = time.monotonic()
            self.ws.receive_data(data)
            for event in self.ws.events_received():
                opcode = getattr(event, "opcode", None)
                if opcode not in (Opcode.TEXT, Opcode.CONT):
                    continue
                if not self.first_frame.done():
                    self.first_frame.set_result(len(event.data))
                    if self.hello:
                        self.ws.send_text(self.hello)
                elif self.armed and self.arrived is None and marker in event.data:
                    self.arrived, self.sample = now, event.data
            self.flush()

        def flush(self):
            for data in self.ws.data_to_send():
                if data:
                    self.transport.write(data)
                else:
                    self.transport.close()

        def connection_lost(self, exc):
            if not self.first_frame.done():
                self.first_frame.set_exception(ConnectionError("closed before its first frame"))

    async def serve_commands():
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        groups: dict[str, list[Client]] = {}  # "spaces" and "baseline": both servers at once

        def reply(payload):
            sys.stdout.write(json.dumps(payload) + "\n")
            sys.stdout.flush()

        while line := await reader.readline():
            command = json.loads(line)
            clients = groups.setdefault(command["group"], [])
            if command["cmd"] == "connect":
                started, failed, first_bytes = time.monotonic(), 0, []
                urls = command["urls"]
                for start in range(0, command["n"], command["batch"]):
                    batch = []
                    for i in range(start, min(command["n"], start + command["batch"])):
                        url = urls[i % len(urls)]
                        host, port = url.split("/")[2].split(":")
                        hello = command.get("hello", "")
                        batch.append(loop.create_connection(lambda url=url: Client(url, hello), host, int(port)))
                    made = await asyncio.gather(*batch, return_exceptions=True)
                    fresh = [protocol for result in made if not isinstance(result, BaseException) for protocol in result[1:]]
                    failed += len(made) - len(fresh)
                    frames = await asyncio.gather(
                        *(asyncio.wait_for(c.first_frame, 120) for c in fresh), return_exceptions=True
                    )
                    for client, size in zip(fresh, frames):
                        if isinstance(size, BaseException):
                            failed += 1
                        else:
                            clients.append(client)
                            first_bytes.append(size)
                reply({"connected": len(clients), "failed": failed, "seconds": time.monotonic() - started,
                       "first_frame_bytes": statistics.median(first_bytes) if first_bytes else 0})
            elif command["cmd"] == "arm":
                for client in clients:
                    client.armed, client.arrived = True, None
                reply({"armed": len(clients)})
            elif command["cmd"] == "collect":
                deadline = time.monotonic() + command["deadline"]
                while time.monotonic() < deadline and any(c.arrived is None for c in clients):
                    await asyncio.sleep(0.01)
                arrivals = [c.arrived for c in clients if c.arrived is not None]
                sample = next((c.sample for c in clients if c.sample), b"")
                for client in clients:
                    client.armed = False
                reply({"arrivals": arrivals, "expected": len(clients), "sample": sample.decode()})
            elif command["cmd"] == "close":
                for client in clients:
                    if client.transport is not None:
                        client.transport.close()
                groups.pop(command["group"])
                await asyncio.sleep(0.5)
                reply({"closed": True})

    asyncio.run(serve_commands())


class ClientPool:
    """The client processes, driven together."""

    def __init__(self, processes: int):
        self.workers = [
            subprocess.Popen(
                [sys.executable, __file__, "--client-worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for _ in range(processes)
        ]

    def ask(self, commands: list[dict]) -> list[dict]:
        for worker, command in zip(self.workers, commands):
            worker.stdin.write(json.dumps(command) + "\n")
            worker.stdin.flush()
        return [json.loads(worker.stdout.readline()) for worker in self.workers[: len(commands)]]

    def all(self, command: dict) -> list[dict]:
        return self.ask([command] * len(self.workers))

    def connect(self, group: str, urls: list[str], n: int) -> dict:
        shares = [n // len(self.workers) + (i < n % len(self.workers)) for i in range(len(self.workers))]
        replies = self.ask([{"cmd": "connect", "group": group, "urls": urls, "n": share, "batch": 50} for share in shares])
        return {
            "connected": sum(r["connected"] for r in replies),
            "failed": sum(r["failed"] for r in replies),
            "seconds": max(r["seconds"] for r in replies),
            "first_frame_bytes": statistics.median(r["first_frame_bytes"] for r in replies),
        }

    def arm(self, group: str) -> None:
        self.all({"cmd": "arm", "group": group})

    def close(self, group: str) -> None:
        self.all({"cmd": "close", "group": group})

    def collect(self, group: str) -> tuple[list[float], int, str]:
        replies = self.all({"cmd": "collect", "group": group, "deadline": DEADLINE})
        arrivals = [t for r in replies for t in r["arrivals"]]
        return arrivals, sum(r["expected"] for r in replies), next((r["sample"] for r in replies if r["sample"]), "")

    def stop(self):
        for worker in self.workers:
            worker.stdin.close()
            worker.wait(timeout=30)


# --- the baseline server -----------------------------------------------------------------------


def baseline_server(port: int) -> None:
    """A minimal websockets server: a hello frame on connect, and whatever the control connection
    sends is broadcast to every other connection."""
    from websockets.asyncio.server import broadcast, serve

    raise_open_files_limit()
    clients = set()

    async def handler(ws):
        if ws.request.path == "/control":
            async for message in ws:
                broadcast(clients, message)
            return
        clients.add(ws)
        try:
            await ws.send('{"type": "hello"}')
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def main():
        async with serve(handler, "127.0.0.1", port, max_queue=None, ping_interval=None):
            await asyncio.Future()

    asyncio.run(main())


class Baseline:
    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, __file__, "--baseline-server", str(self.port)])
        wait_for_port(self.port)

    def broadcast(self, text: str) -> float:
        """Send ``text`` to every client through the control connection; returns when it was sent."""
        from websockets.sync.client import connect

        with connect(f"ws://127.0.0.1:{self.port}/control") as control:
            started = time.monotonic()
            control.send(text)
            return started

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


# --- the Spaces side ---------------------------------------------------------------------------


def psql(sql: str) -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAtc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def pg_commits() -> int:
    return int(psql(f"select xact_commit from pg_stat_database where datname = '{DB_NAME}'"))


class Daphnes:
    """The web processes as deployed: ``deploy/web`` runs ``count`` daphne processes on one port
    (SO_REUSEPORT), so the kernel spreads the clients over them."""

    def __init__(self, count: int, env: dict):
        self.port = free_port()
        self.log = open(f"/tmp/bench-fanout-daphne-{os.getpid()}.log", "a")
        self.launcher = subprocess.Popen(
            [sys.executable, "deploy/web"],
            cwd=ROOT, env={**env, "SPACES_PORT": str(self.port), "WEB_PROCESSES": str(count)},
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port)
        time.sleep(1.0 * count)  # every process listening, not just the first

    def pids(self) -> list[int]:
        path = Path(f"/proc/{self.launcher.pid}/task/{self.launcher.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def rss(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids())

    def stop(self):
        self.launcher.terminate()
        self.launcher.wait(timeout=30)


def summary(latencies_ms: list[float], expected: int) -> dict:
    if not latencies_ms:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "lost": expected}
    return {
        "p50": statistics.median(latencies_ms),
        "p99": percentile(latencies_ms, 0.99),
        "max": max(latencies_ms),
        "lost": expected - len(latencies_ms),
    }


def settle(seconds: float) -> None:
    # Joins of a big room are announced once a second: let the last batch go out.
    time.sleep(seconds)


def use_layer(layer: str) -> None:
    """Publish from this process through the same channel layer as the daphnes."""
    import importlib

    from channels.layers import channel_layers
    from django.conf import settings

    import spaces.settings

    os.environ["CHANNEL_LAYER"] = layer
    settings.CHANNEL_LAYERS = importlib.reload(spaces.settings).CHANNEL_LAYERS
    channel_layers.backends.clear()


def run_layer(layer: str, args, env: dict) -> list[dict]:
    from django.contrib.auth import get_user_model

    from rooms import services
    from rooms.identity import Visitor
    from rooms.models import Participant

    env = {**env, "CHANNEL_LAYER": layer}
    use_layer(layer)
    daphnes = Daphnes(args.daphnes, env)
    pool = ClientPool(args.client_processes)
    rows = []
    try:
        for n in args.clients:
            stamp = time.time_ns()
            host = get_user_model().objects.create_user(f"host-{stamp}")
            speaker_user = get_user_model().objects.create_user(f"speaker-{stamp}")
            space = services.space_create(host=host, title=f"Fan-out to {n}")
            speaker = services.space_join(space=space, visitor=Visitor.of(speaker_user))
            urls = [f"ws://127.0.0.1:{daphnes.port}/ws/spaces/{space.code}/"]

            rss_before, commits_before = daphnes.rss(), pg_commits()
            joined = pool.connect("spaces", urls, n)
            settle(2.5)
            rss_after, commits_after = daphnes.rss(), pg_commits()

            baseline = Baseline()
            base_rss_before = rss_kib(baseline.process.pid)
            pool.connect("baseline", [f"ws://127.0.0.1:{baseline.port}/"], n)
            settle(1.0)
            base_rss_after = rss_kib(baseline.process.pid)

            # Toggles and baseline broadcasts alternate, so both see the same moments of a
            # shared, noisy machine; the baseline sends the very frame the toggle before it did.
            latencies, lost, slowest, service_ms = [], 0, [], []
            base_latencies, base_lost = [], 0
            for toggle in range(args.toggles):
                pool.arm("spaces")
                role = "speaker" if toggle % 2 == 0 else "listener"
                target = Participant.objects.get(pk=speaker.pk)
                started = time.monotonic()
                services.participant_set_role(space=space, actor=host, participant=target, role=role)
                service_ms.append(round((time.monotonic() - started) * 1000, 1))
                arrivals, expected, sample = pool.collect("spaces")
                latencies += [(t - started) * 1000 for t in arrivals]
                slowest.append(round(max(((t - started) * 1000 for t in arrivals), default=float("nan")), 1))
                lost += expected - len(arrivals)
                settle(0.5)

                pool.arm("baseline")
                started = baseline.broadcast(sample)
                arrivals, expected, _ = pool.collect("baseline")
                base_latencies += [(t - started) * 1000 for t in arrivals]
                base_lost += expected - len(arrivals)
                settle(0.5)
            spaces = summary(latencies, len(latencies) + lost)
            spaces["lost"] = lost
            base = summary(base_latencies, len(base_latencies) + base_lost)
            base["lost"] = base_lost
            services.space_end(space=space, actor=host)
            pool.close("spaces")
            pool.close("baseline")
            baseline.stop()

            row = {
                "layer": layer,
                "clients": n,
                "connected": joined["connected"],
                "join_s": joined["seconds"],
                "commits_per_join": (commits_after - commits_before) / max(1, joined["connected"]),
                "spaces": spaces,
                "slowest_per_toggle": slowest,
                "service_call_ms": service_ms,
                "baseline": base,
                "kib_per_socket": max(0, rss_after - rss_before) / n,
                "base_kib_per_socket": max(0, base_rss_after - base_rss_before) / n,
                "frame_bytes": len(sample.encode()),
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        pool.stop()
        daphnes.stop()
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| layer | clients | joins s | PG commits per join | p50 ms | p99 ms | max ms | lost | baseline p50 ms "
        "| baseline p99 ms | p99 ratio | KiB per idle socket (baseline) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        s, b = row["spaces"], row["baseline"]
        ratio = s["p99"] / b["p99"] if b["p99"] else float("nan")
        lines.append(
            f"| {row['layer']} | {row['clients']} | {row['join_s']:.1f} | {row['commits_per_join']:.1f} | "
            f"{s['p50']:.1f} | {s['p99']:.1f} | {s['max']:.1f} | {s['lost']} | {b['p50']:.1f} | {b['p99']:.1f} | "
            f"{ratio:.2f} | {row['kib_per_socket']:.0f} ({row['base_kib_per_socket']:.0f}) |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--layers", nargs="+", choices=["core", "pubsub"], default=["core"])
    parser.add_argument("--daphnes", type=int, default=2, help="daphne processes behind the port (deploy/web)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--toggles", type=int, default=20, help="speaker toggles measured per N")
    parser.add_argument("--client-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_worker:
        return client_worker()
    if args.baseline_server:
        return baseline_server(args.baseline_server)

    raise_open_files_limit()
    psql(f"drop database if exists {DB_NAME}")
    psql(f"create database {DB_NAME}")
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "CHANNEL_PREFIX": f"bench-{os.getpid()}",
        "JANUS_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
        # As in production: DEBUG off (no query log), persistent database connections.
        "SPACES_DEBUG": "0",
        "SECRET_KEY": f"bench-{os.getpid()}-not-a-secret",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "60",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    rows = []
    for layer in args.layers:
        rows += run_layer(layer, args, env)
    command = " ".join(
        [".venv/bin/python bench/fanout.py", "--clients", *map(str, args.clients), "--layers", *args.layers,
         "--daphnes", str(args.daphnes), "--client-processes", str(args.client_processes), "--toggles", str(args.toggles)]
    )
    print(f"Command: `{command}`\n")
    print(table(rows))


if __name__ == "__main__":
    main()
