"""Join storm: N signed-out listeners arrive in one live Space as fast as they can, against a
baseline of the same N connects to a minimal ``websockets`` server in the same run.

Each client is a signed-out listener with its own identity, as the share page hands it out: a
signed ticket (``rooms.identity.ws_ticket``) in the websocket URL, so no session is made for the
benchmark. Each client, like the page once its audio plays, then says ``{"type": "listening"}``
(the page's join API call, for its media credentials, is not part of the storm). A join is counted
when the client has its first frame (the snapshot, which follows the arrival); the listener count
read after the storm says whether every ``listening`` was counted. Reported: joins per second over the whole storm (and per fifth of it, to see whether the
rate holds up as the room fills), PostgreSQL transactions committed per join (``xact_commit`` of
the benchmark's own database; the commits the idle stack makes in the same time, measured just
before, are shown apart), and the listener count the Space reports afterwards.

Served as in production: ``deploy/web`` with ``--daphnes`` processes on one port, DEBUG off,
persistent database connections; the client processes are those of ``bench/fanout.py``.

    .venv/bin/python bench/join_storm.py --clients 10000
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fanout import PG, ROOT, Baseline, ClientPool, Daphnes, cpu_seconds, psql, raise_open_files_limit, settle  # noqa: E402

DB_NAME = "bench_join_storm"
TARGET_JOINS_PER_SECOND = 1000
# An anonymous join itself commits nothing (tests/test_guests.py counts every SQL statement of a
# crowd's arrivals and their ``listening``: none). What a storm does commit is once a second,
# whatever the rate: the batch that announces the second's joins (one write) and each web
# process reading the snapshot again after it; at 1,000 joins a second that is about 0.01 a
# join. More than twice that would mean something commits per join.
MAX_COMMITS_PER_JOIN = 0.02
COMMAND_URLS = 200


def pg_commits() -> int:
    return int(psql(f"select xact_commit from pg_stat_database where datname = '{DB_NAME}'"))


def ticket_urls(port: int, code: str, n: int) -> list[str]:
    from rooms.identity import Visitor, ws_ticket

    stamp = time.time_ns()
    return [
        f"ws://127.0.0.1:{port}/ws/spaces/{code}/?ticket="
        + ws_ticket(Visitor.anonymous(f"storm-{stamp}-{i}", f"Listener {1000 + i % 9000}"))
        for i in range(n)
    ]


HELLO = {"spaces": '{"type": "listening"}', "baseline": ""}


def connect(pool: ClientPool, group: str, urls: list[str], batch: int) -> dict:
    """Each client process connects its share of ``urls`` (each URL once), ``batch`` at a time."""
    shares = [urls[i :: len(pool.workers)] for i in range(len(pool.workers))]
    started, failed = time.monotonic(), 0
    # Commands go over a pipe that reads lines of at most 64 KiB: a few hundred URLs at a time.
    for start in range(0, max(len(share) for share in shares), COMMAND_URLS):
        parts = [share[start : start + COMMAND_URLS] for share in shares]
        replies = pool.ask(
            [{"cmd": "connect", "group": group, "urls": p, "n": len(p), "batch": batch, "hello": HELLO[group]} for p in parts]
        )
        failed += sum(r["failed"] for r in replies)
    seconds = time.monotonic() - started
    # A client process answers with all the connections it holds in the group: count the new ones.
    totals = sum(r["connected"] for r in replies)
    held = getattr(pool, "held", {})
    new, held[group] = totals - held.get(group, 0), totals
    pool.held = held
    return {"connected": new, "failed": failed, "seconds": seconds}


def server_cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def connect_in_parts(pool: ClientPool, group: str, urls: list[str], parts: int, batch: int, server_pids: list[int]) -> list[dict]:
    """Connect ``urls`` in ``parts`` consecutive slices (each slice as fast as the clients go).
    Each slice also says how much CPU the server processes (``server_pids``) spent on it: on a
    shared machine the rate swings with the neighbours' load, the CPU a join costs much less."""
    size = -(-len(urls) // parts)
    results = []
    for start in range(0, len(urls), size):
        chunk = urls[start : start + size]
        commits, cpu = pg_commits(), server_cpu(server_pids)
        result = connect(pool, group, chunk, batch)
        result["server_cpu_s"] = server_cpu(server_pids) - cpu
        # Approximate per part (PostgreSQL publishes its statistics about once a second).
        result["commits_per_join"] = (pg_commits() - commits) / max(1, result["connected"])
        results.append(result)
        print(json.dumps({"group": group, **result}), file=sys.stderr, flush=True)
    return results


def run(args, env: dict) -> dict:
    from django.contrib.auth import get_user_model

    from rooms import selectors, services

    daphnes = Daphnes(args.daphnes, env)
    pool = ClientPool(args.client_processes)
    try:
        stamp = time.time_ns()
        host = get_user_model().objects.create_user(f"host-{stamp}")
        space = services.space_create(host=host, title=f"Join storm of {args.clients}")
        urls = ticket_urls(daphnes.port, space.code, args.clients)

        # What the idle stack commits on its own (relays' heartbeats and the like), for as long as
        # the storm is expected to take at the target rate, at least 5 s.
        idle_seconds = max(5.0, args.clients / TARGET_JOINS_PER_SECOND)
        settle(2.0)
        before = pg_commits()
        time.sleep(idle_seconds)
        settle(1.0)
        idle_rate = (pg_commits() - before) / (idle_seconds + 1.0)

        commits_before = pg_commits()
        started = time.monotonic()
        parts = connect_in_parts(pool, "spaces", urls, args.parts, args.batch, daphnes.pids())
        storm_seconds = time.monotonic() - started
        settle(2.5)  # PostgreSQL publishes its statistics about once a second
        commits = pg_commits() - commits_before
        connected = sum(p["connected"] for p in parts)
        failed = sum(p["failed"] for p in parts)
        space.refresh_from_db()
        listeners = selectors.listener_count(space=space)

        baseline = Baseline()
        base_urls = [f"ws://127.0.0.1:{baseline.port}/"] * args.clients
        base_parts = connect_in_parts(pool, "baseline", base_urls, args.parts, args.batch, [baseline.process.pid])
        base_seconds = sum(p["seconds"] for p in base_parts)
        pool.close("baseline")
        baseline.stop()
        services.space_end(space=space, actor=host)
        pool.close("spaces")
    finally:
        pool.stop()
        daphnes.stop()
    background = idle_rate * (storm_seconds + 2.5)
    return {
        "clients": args.clients,
        "connected": connected,
        "failed": failed,
        "listener_count": listeners,
        "storm_s": storm_seconds,
        "joins_per_s": connected / storm_seconds,
        "joins_per_s_by_part": [p["connected"] / p["seconds"] for p in parts],
        "commits": commits,
        "idle_commits_per_s": idle_rate,
        "commits_per_join": commits / max(1, connected),
        "commits_per_join_less_idle": max(0.0, commits - background) / max(1, connected),
        "server_cpu_ms_per_join": 1000 * sum(p["server_cpu_s"] for p in parts) / max(1, connected),
        "baseline_connects_per_s": args.clients / base_seconds,
        "baseline_cpu_ms_per_connect": 1000 * sum(p["server_cpu_s"] for p in base_parts) / args.clients,
        "baseline_by_part": [p["connected"] / p["seconds"] for p in base_parts],
    }


def table(row: dict) -> str:
    ratio = row["joins_per_s"] / row["baseline_connects_per_s"]
    verdict = "PASS" if row["joins_per_s"] >= TARGET_JOINS_PER_SECOND and row["commits_per_join_less_idle"] <= MAX_COMMITS_PER_JOIN else "MISS"
    by_part = " / ".join(f"{r:.0f}" for r in row["joins_per_s_by_part"])
    base_by_part = " / ".join(f"{r:.0f}" for r in row["baseline_by_part"])
    return "\n".join(
        [
            "| listeners | joined | failed | listener count after | joins/s | joins/s per fifth | baseline connects/s "
            "| baseline per fifth | ratio | server CPU ms per join (baseline per connect) "
            "| PG commits per join (less idle) | target ≥ 1,000/s, no commit per join |",
            "| ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | --- |",
            f"| {row['clients']} | {row['connected']} | {row['failed']} | {row['listener_count']} | "
            f"{row['joins_per_s']:.0f} | {by_part} | {row['baseline_connects_per_s']:.0f} | {base_by_part} | "
            f"{ratio:.2f} | {row['server_cpu_ms_per_join']:.2f} ({row['baseline_cpu_ms_per_connect']:.2f}) | "
            f"{row['commits_per_join']:.2f} ({row['commits_per_join_less_idle']:.2f}) | {verdict} |",
        ]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--parts", type=int, default=5, help="the storm is reported in this many consecutive slices")
    parser.add_argument("--daphnes", type=int, default=2, help="daphne processes behind the port (deploy/web)")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100, help="connects in flight per client process")
    args = parser.parse_args()

    raise_open_files_limit()
    psql(f"drop database if exists {DB_NAME}")
    psql(f"create database {DB_NAME}")
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "CHANNEL_PREFIX": f"bench-{os.getpid()}",
        "JANUS_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
        "SPACES_DEBUG": "0",
        "SECRET_KEY": f"bench-{os.getpid()}-not-a-secret",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "60",
        # Every client comes from 127.0.0.1, and tickets must outlive a slow storm.
        "SPACES_JOINS_PER_CLIENT": str(10 * args.clients),
        "SPACES_WS_TICKET_MAX_AGE": "3600",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    row = run(args, env)
    print(json.dumps(row), file=sys.stderr)
    command = (
        f".venv/bin/python bench/join_storm.py --clients {args.clients} --parts {args.parts} "
        f"--daphnes {args.daphnes} --client-processes {args.client_processes} --batch {args.batch}"
    )
    print(f"Command: `{command}`\n")
    print(table(row))


if __name__ == "__main__":
    main()
