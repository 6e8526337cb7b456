"""Fan-out: how long until every websocket in a Space has a speaker toggle, against a baseline.

For each N: N websocket clients join one live Space on a real daphne (the project's ASGI app,
Redis channel layer); a speaker toggle is made through the service; we time, per client, from
just before the service call until the ``participant.role_changed`` frame arrives (p50, p99,
max, frames lost). In the same run the same payload is broadcast to N clients by a minimal
``websockets`` server: the baseline. Also daphne's memory per idle connection.

    .venv/bin/python bench/fanout.py --clients 100 1000 5000
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
DB_NAME = "bench_fanout"
PG = "postgres://postgres@127.0.0.1:5432"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def summary(latencies: list[float], expected: int) -> dict:
    if not latencies:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "lost": expected}
    ms = [v * 1000 for v in latencies]
    return {"p50": statistics.median(ms), "p99": percentile(ms, 0.99), "max": max(ms), "lost": expected - len(ms)}


async def open_clients(url: str, n: int, headers=None):
    import websockets

    clients = []
    # In batches of 50: more at once overflows the listen backlog of a 2-core machine's server.
    for start in range(0, n, 50):
        batch = [websockets.connect(url, origin="http://127.0.0.1", max_queue=None, open_timeout=120) for _ in range(start, min(n, start + 50))]
        clients += await asyncio.gather(*batch)
    return clients


async def drain_until(ws, kind: str, deadline: float) -> float | None:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=left))
        except (asyncio.TimeoutError, Exception):
            return None
        if frame.get("type") == kind:
            return time.monotonic()


async def settle(clients, quiet_for: float = 1.0):
    """Read and drop whatever is queued until every client has been quiet for a while."""

    async def drain(ws):
        while True:
            try:
                await asyncio.wait_for(ws.recv(), timeout=quiet_for)
            except (asyncio.TimeoutError, Exception):
                return

    await asyncio.gather(*(drain(ws) for ws in clients))


async def measure_spaces(n: int, base_port: int, space_code: str, toggle) -> tuple[dict, float]:
    url = f"ws://127.0.0.1:{base_port}/ws/spaces/{space_code}/"
    clients = await open_clients(url, n)
    await settle(clients, quiet_for=2.5)
    started = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, toggle)
    arrivals = await asyncio.gather(*(drain_until(ws, "participant.role_changed", started + 30) for ws in clients))
    latencies = [t - started for t in arrivals if t is not None]
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    return summary(latencies, n), 0.0


async def measure_baseline(n: int, payload: str) -> dict:
    import websockets

    connected: set = set()
    ready = asyncio.Event()

    async def handler(ws):
        connected.add(ws)
        if len(connected) == n:
            ready.set()
        try:
            await ws.wait_closed()
        finally:
            connected.discard(ws)

    port = free_port()
    async with websockets.serve(handler, "127.0.0.1", port, max_queue=None):
        clients = await open_clients(f"ws://127.0.0.1:{port}/", n)
        await ready.wait()
        started = time.monotonic()
        websockets.broadcast(connected, payload)
        arrivals = await asyncio.gather(*(drain_until(ws, "participant.role_changed", started + 30) for ws in clients))
        await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    return summary([t - started for t in arrivals if t is not None], n)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--layer", choices=["core", "pubsub"], default="core")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"drop database if exists {DB_NAME}"], check=True, capture_output=True)
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"create database {DB_NAME}"], check=True, capture_output=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "CHANNEL_PREFIX": f"bench-{os.getpid()}",
        "JANUS_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
        "CHANNEL_LAYER": args.layer,
        "DB_CONN_MAX_AGE": "60",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from rooms import services
    from rooms.models import Participant

    port = free_port()
    log = open(f"/tmp/bench-fanout-daphne-{os.getpid()}.log", "w")
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--websocket_connect_timeout", "60", "spaces.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    rows = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        User = get_user_model()
        for n in args.clients:
            host = User.objects.create_user(f"host{n}-{time.time_ns()}")
            speaker_user = User.objects.create_user(f"speaker{n}-{time.time_ns()}")
            space = services.space_start_now(host=host, title=f"Fan-out {n}")
            speaker = services.space_join(space=space, user=speaker_user)
            state = {"role": "listener"}

            def toggle():
                state["role"] = "speaker" if state["role"] == "listener" else "listener"
                services.participant_set_role(
                    space=space, actor=host, participant=Participant.objects.get(pk=speaker.pk), role=state["role"]
                )

            idle_before = rss_kib(daphne.pid)
            result, _ = asyncio.run(measure_spaces(n, port, space.code, toggle))
            idle_after = rss_kib(daphne.pid)
            payload = json.dumps({"type": "participant.role_changed", "seq": 1, "at": "", "data": {"participant": {"id": speaker.uid, "name": speaker.display_name, "role": "speaker"}}})
            baseline = asyncio.run(measure_baseline(n, payload))
            services.space_end(space=space, actor=host)
            rows.append((n, result, baseline, max(0, idle_after - idle_before) / n))
            print(n, result, baseline, flush=True)
    finally:
        daphne.terminate()
        daphne.wait(timeout=10)

    command = "  ".join([".venv/bin/python bench/fanout.py", "--clients", *map(str, args.clients), "--layer", args.layer])
    lines = [
        f"Command: `{command}`",
        "",
        "| clients | Spaces p50 ms | p99 ms | max ms | lost | baseline p50 ms | baseline p99 ms | p99 ratio | KiB per idle socket |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, result, baseline, per_socket in rows:
        ratio = result["p99"] / baseline["p99"] if baseline["p99"] else float("nan")
        lines.append(
            f"| {n} | {result['p50']:.1f} | {result['p99']:.1f} | {result['max']:.1f} | {result['lost']} | "
            f"{baseline['p50']:.1f} | {baseline['p99']:.1f} | {ratio:.2f} | {per_socket:.0f} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
