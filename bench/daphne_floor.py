"""Daphne's own floor: memory per idle websocket and connects per second, for daphne serving the
same websocket with less and less of the project around it, against a minimal ``websockets``
server, all in the same run.

Steps (``bench/floor_apps.py``): ``bare`` ASGI callable on daphne; a Channels consumer; that
consumer behind the project's websocket middleware; the project's application (a watcher's
socket: the Space's snapshot and relay, no ticket). Each step runs ``--servers`` server processes
(2 by default, as the toggle and join storms run 2 daphnes), each on its own port; N clients (spread
over ``bench/fanout.py``'s light client processes, in batches of 50 per process) connect and wait
for their first frame. "connects/s" is N over the time until the last first frame; "KiB per
socket" is the server's RSS growth over N after a warm-up of 200 sockets; "broadcast p99" (the
baseline and bare daphne only: they have a control socket whose frames go to every other socket,
one send each) is over ``--broadcasts`` frames to all N, from just before the send to each
arrival; "failed" counts connects that failed and frames that did not arrive within 30 s.
Repeated ``--repeat`` times, medians reported.

    .venv/bin/python bench/daphne_floor.py --clients 10000 --repeat 1 --servers 2
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fanout  # noqa: E402

ROOT = fanout.ROOT
DB_NAME = "bench_floor"
STEPS = ["websockets (baseline)", "daphne: bare ASGI", "daphne: Channels consumer", "daphne: + middleware",
         "daphne: the project"]


def server(step: str, port: int, env: dict) -> subprocess.Popen:
    if step.startswith("websockets"):
        args = [sys.executable, str(Path(fanout.__file__)), "--baseline-server", str(port)]
    else:
        app = {"daphne: bare ASGI": "floor_apps:bare", "daphne: Channels consumer": "floor_apps:consumer",
               "daphne: + middleware": "floor_apps:middleware", "daphne: the project": "spaces.asgi:application"}[step]
        args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    step_env = {**env, "FLOOR_APP": {"floor_apps:consumer": "consumer", "floor_apps:middleware": "middleware"}.get(
        args[-1], "")}
    process = subprocess.Popen(args, cwd=ROOT, env=step_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    fanout.wait_for_port(port, timeout=60)
    return process


BROADCASTERS = ("websockets (baseline)", "daphne: bare ASGI")


def measure(step: str, url_path: str, n: int, servers: int, processes: int, env: dict, broadcasts: int) -> dict:
    """Connect n sockets spread over ``servers`` server processes (after 200 to warm up), read
    their memory, then (for the steps that broadcast) send ``broadcasts`` frames to all of them
    (through each server's control socket, one after the other) and time each socket's arrival
    from just before the first send."""
    from websockets.sync.client import connect

    ports = [fanout.free_port() for _ in range(servers)]
    running = [server(step, port, env) for port in ports]
    urls = [f"ws://127.0.0.1:{port}{url_path}" for port in ports]
    pool = fanout.ClientPool(processes)
    latencies, lost = [], 0

    def rss() -> int:
        return sum(fanout.rss_kib(process.pid) for process in running)

    try:
        pool.connect("warm", urls, 200)
        time.sleep(2)
        before = rss()
        crowd = pool.connect("crowd", urls, n)
        time.sleep(3)
        after = rss()
        if step in BROADCASTERS:
            controls = [connect(f"ws://127.0.0.1:{port}/control", origin="http://127.0.0.1") for port in ports]
            try:
                for k in range(broadcasts):
                    pool.arm("crowd")
                    started = time.monotonic()
                    for control in controls:
                        control.send('{"type": "%s", "seq": %d}' % (fanout.MARKER, k))
                    arrivals, expected, _ = pool.collect("crowd")
                    latencies.extend((t - started) * 1000 for t in arrivals)
                    lost += expected - len(arrivals)
                    time.sleep(0.5)
            finally:
                for control in controls:
                    control.close()
    finally:
        pool.stop()
        for process in running:
            process.kill()
            process.wait()
    return {"connects_s": crowd["connected"] / crowd["seconds"], "kib": (after - before) / crowd["connected"],
            "failed": crowd["failed"] + lost, "p99": fanout.percentile(latencies, 0.99) if latencies else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--servers", type=int, default=2, help="server processes per step (the project's benches run 2 daphnes)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--broadcasts", type=int, default=5)
    args = parser.parse_args()
    fanout.raise_open_files_limit()
    for sql in (f"drop database if exists {DB_NAME}", f"create database {DB_NAME}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, capture_output=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "spaces.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "DEBUG": "0", "LOG_LEVEL": "WARNING", "JANUS_ENABLED": "0", "DB_CONN_MAX_AGE": "60",
        "CHANNEL_PREFIX": f"bench-floor-{os.getpid()}", "CACHE_PREFIX": f"bench-floor-{os.getpid()}",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    code = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.contrib.auth import get_user_model\nfrom rooms import services\n"
         "host = get_user_model().objects.create_user('floor_host', password='correct horse battery')\n"
         "print(services.space_create(host=host, title='Floor').code)"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
    results = {step: [] for step in STEPS}
    for _ in range(args.repeat):
        for step in STEPS:
            results[step].append(measure(step, f"/ws/spaces/{code}/", args.clients, args.servers,
                                         args.client_processes, env, args.broadcasts))
    print(f"\n{args.clients} sockets over {args.servers} server processes, {args.repeat} runs, medians\n")
    print("| server | KiB per idle socket | connects/s | broadcast p99 ms | failed |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for step in STEPS:
        rows = results[step]
        p99s = [r["p99"] for r in rows if r["p99"] is not None]
        print(f"| {step} | {statistics.median(r['kib'] for r in rows):.1f} | "
              f"{statistics.median(r['connects_s'] for r in rows):.0f} | "
              f"{statistics.median(p99s) if p99s else float('nan'):.0f} | {sum(r['failed'] for r in rows)} |")
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"drop database if exists {DB_NAME}"],
                   capture_output=True)


if __name__ == "__main__":
    main()
