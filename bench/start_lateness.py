"""Start lateness: 500 Spaces of 500 hosts due in the same minute, one Celery worker, the real beat.

Lateness is ``started_at - scheduled_for``; a duplicate start would show as a second
``space.started`` (``event_seq`` > 1 on a Space nobody joined) or a second host notice.

    .venv/bin/python bench/start_lateness.py --spaces 500
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "bench_start_lateness"


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spaces", type=int, default=500)
    parser.add_argument("--sweep", type=float, default=30.0, help="beat sweep interval, seconds")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    for sql in (f"drop database if exists {DB_NAME}", f"create database {DB_NAME}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, capture_output=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "CELERY_BROKER_URL": args.broker,
        "SPACES_SWEEP_INTERVAL": str(args.sweep),
        "JANUS_ENABLED": "0",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "CHANNEL_PREFIX": f"bench-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import redis

    redis.Redis.from_url(args.broker).flushdb()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from rooms.models import Space
    from rooms import services
    from scheduling.models import Notification

    User = get_user_model()
    first_due = timezone.now() + timedelta(seconds=45)
    for i in range(args.spaces):
        host = User.objects.create_user(f"host{i}")
        # All due within the same minute: spread over 20 seconds.
        services.space_create(
            host=host, title=f"Show {i}", scheduled_for=first_due + timedelta(seconds=20 * i / args.spaces)
        )
    logs = open(ROOT / "var" / "bench-start-lateness.log", "w") if (ROOT / "var").is_dir() else subprocess.DEVNULL
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "spaces", "worker", "--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
    )
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "spaces", "beat", "--schedule", f"/tmp/bench-beat-{os.getpid()}", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = first_due + timedelta(seconds=20 + 60)
        while timezone.now() < deadline and Space.objects.filter(state="scheduled").exists():
            time.sleep(1)
        time.sleep(3)  # let any duplicate start show itself
    finally:
        for process in (beat, worker):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    started = list(Space.objects.filter(state="live").values_list("started_at", "scheduled_for", "event_seq"))
    lateness = [(s - f).total_seconds() for s, f, _ in started]
    duplicates = sum(seq > 1 for _, _, seq in started)
    notices = Notification.objects.filter(kind="your_space_live").count()
    p50, p99, worst = statistics.median(lateness), percentile(lateness, 0.99), max(lateness)
    verdict = "PASS" if p99 <= 1.0 and duplicates == 0 and notices == len(started) == args.spaces else "FAIL"
    command = f".venv/bin/python bench/start_lateness.py --spaces {args.spaces} --sweep {args.sweep:g}"
    print(f"Command: `{command}`\n")
    print("| Spaces | started | lateness p50 s | p99 s | max s | duplicate starts | host notices | target p99 ≤ 1 s, 0 duplicates |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print(f"| {args.spaces} | {len(started)} | {p50:.3f} | {p99:.3f} | {worst:.3f} | {duplicates} | {notices} | {verdict} |")


if __name__ == "__main__":
    main()
