"""Toggle storm: one speaker toggle to N (10,000) open websockets of one Space, and the memory an
idle socket costs, each against a minimal ``websockets`` server measured in the same run.

The machinery is ``bench/fanout.py``'s (``deploy/web`` daphnes, client processes on the
websockets Sans-I/O layer, toggles alternating with baseline broadcasts of the same frame). Its
clients send no session and no ticket, so they are watchers of the Space (page viewers): they get
every frame a listener gets, through the same relay, without joining. p50/p99/max are from just
before ``participant_set_role`` until each socket has the ``participant.role_changed`` frame, over
all toggles; "lost" are frames that did not arrive within 30 s; KiB per idle socket is the growth
of the daphnes' RSS (all processes) over N, the baseline's in brackets.

    .venv/bin/python bench/toggle_storm.py --clients 10000 --toggles 10
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fanout  # noqa: E402

TARGET_P99_MS = 500
TARGET_KIB = 20


def verdicts(rows: list[dict]) -> str:
    lines = [
        "| clients | p99 ms (target ≤ 500) | lost (target 0) | KiB per idle socket (target ≤ 20) | baseline KiB | verdict |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        s = row["spaces"]
        ok = s["p99"] <= TARGET_P99_MS and s["lost"] == 0 and row["kib_per_socket"] <= TARGET_KIB
        lines.append(
            f"| {row['clients']} | {s['p99']:.0f} | {s['lost']} | {row['kib_per_socket']:.1f} | "
            f"{row['base_kib_per_socket']:.1f} | {'PASS' if ok else 'MISS'} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--toggles", type=int, default=10)
    parser.add_argument("--daphnes", type=int, default=2)
    parser.add_argument("--client-processes", type=int, default=2)
    args = parser.parse_args()
    # fanout.main reads its own arguments: hand it ours.
    sys.argv = [
        "fanout.py", "--clients", str(args.clients), "--layers", "core", "--daphnes", str(args.daphnes),
        "--client-processes", str(args.client_processes), "--toggles", str(args.toggles),
    ]
    rows = []
    original = fanout.run_layer

    def run_layer(layer, fargs, env):
        result = original(layer, fargs, env)
        rows.extend(result)
        return result

    fanout.run_layer = run_layer
    fanout.main()
    print(
        f"\nCommand: `.venv/bin/python bench/toggle_storm.py --clients {args.clients} --toggles {args.toggles} "
        f"--daphnes {args.daphnes} --client-processes {args.client_processes}`\n"
    )
    print(verdicts(rows))


if __name__ == "__main__":
    main()
