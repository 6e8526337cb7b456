"""Scheduled Spaces start on time, exactly once, with real Celery workers on real Redis and
PostgreSQL, and a real beat ticking every second instead of every 30."""

import os
import signal
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from rooms.models import Space
from rooms import services
from scheduling import services as scheduling
from scheduling.models import Notification

from .conftest import require
from .factories import UserFactory
from .processes import Process, test_database_url, wait_for

BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/11")

pytestmark = pytest.mark.django_db(transaction=True)


class Celery(Process):
    """A celery worker or beat, started and waited for until it says it is ready."""

    def __init__(self, name: str, env: dict, *args: str, ready_line: str):
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "spaces", *args, "--loglevel", "INFO"],
            env,
            Path(env["WORKER_LOG_DIR"]) / f"{name}.log",
        )
        ready = wait_for(lambda: ready_line in self.log_path.read_text() or self.process.poll() is not None, timeout=30)
        assert ready and self.process.poll() is None, self.tail()

    def kill(self):
        self.stop(signal.SIGKILL)


@pytest.fixture
def celery_env(tmp_path, transactional_db):
    try:
        redis.Redis.from_url(BROKER).flushdb()
        reachable = True
    except redis.ConnectionError:
        reachable = False
    require(reachable, "Redis is needed for the Celery tests")
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": BROKER,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "CHANNEL_PREFIX": f"celery-test-{uuid.uuid4().hex[:6]}",
        "WORKER_LOG_DIR": str(tmp_path),
    }
    processes: list[Celery] = []

    def start(name="w1") -> Celery:
        worker = Celery(
            name, env, "worker", "--concurrency", "1", "--without-gossip", "--without-mingle",
            "-n", f"{name}@%h", ready_line="ready.",
        )
        processes.append(worker)
        return worker

    def beat() -> Celery:
        ticking = Celery(
            "beat", {**env, "SPACES_SWEEP_INTERVAL": "1"}, "beat", "--schedule", str(tmp_path / "beat"),
            ready_line="beat: Starting",
        )
        processes.append(ticking)
        return ticking

    yield type("CeleryEnv", (), {"start": staticmethod(start), "beat": staticmethod(beat), "mail": tmp_path / "mail"})
    for process in processes:
        process.stop()


def schedule_in(seconds: float, host=None) -> Space:
    host = host or UserFactory()
    return services.space_create(
        host=host, title="On time", scheduled_for=timezone.now() + timedelta(seconds=seconds)
    )


def state_of(space) -> Space:
    return Space.objects.get(pk=space.pk)


def test_a_space_scheduled_5_seconds_ahead_is_live_within_2_seconds_of_its_time(celery_env):
    celery_env.start()
    space = schedule_in(5)
    celery_env.beat()
    live = wait_for(lambda: state_of(space).state == "live", timeout=10)
    assert live
    started = state_of(space)
    assert started.started_by == "schedule"
    lateness = (started.started_at - started.scheduled_for).total_seconds()
    assert 0 <= lateness < 2, lateness


def test_a_rescheduled_space_starts_only_at_its_new_time(celery_env):
    celery_env.start()
    space = schedule_in(3)
    celery_env.beat()
    assert wait_for(lambda: "sweep_due_spaces_task" in (Path(celery_env.mail.parent / "w1.log").read_text()), timeout=5)
    new_time = timezone.now() + timedelta(seconds=5)
    services.space_reschedule(space=space, actor=space.host, scheduled_for=new_time)
    assert not wait_for(lambda: state_of(space).state == "live", timeout=3.5)
    assert wait_for(lambda: state_of(space).state == "live", timeout=6)
    assert state_of(space).started_at >= new_time


def test_a_cancelled_space_never_starts(celery_env):
    celery_env.start()
    space = schedule_in(3)
    celery_env.beat()
    assert wait_for(lambda: "sweep_due_spaces_task" in (Path(celery_env.mail.parent / "w1.log").read_text()), timeout=5)
    services.space_cancel(space=space, actor=space.host)
    assert not wait_for(lambda: state_of(space).state != "cancelled", timeout=4)


def test_two_workers_start_it_once(celery_env):
    celery_env.start("w1")
    celery_env.start("w2")
    space = schedule_in(3)
    celery_env.beat()  # it arms the start at every tick: several tasks, on either worker
    assert wait_for(lambda: state_of(space).state == "live", timeout=8)
    time.sleep(1)
    # One space.started event (seq 1) and one notice for the host: started exactly once.
    assert state_of(space).event_seq == 1
    assert wait_for(lambda: Notification.objects.filter(space=space, kind="your_space_live").count() == 1, timeout=5)


def test_a_worker_killed_mid_way_and_restarted_still_starts_it_once(celery_env):
    first = celery_env.start("w1")
    space = schedule_in(4)
    beat = celery_env.beat()
    # The worker now holds armed start tasks, unacknowledged; kill it, and the beat, mid-way.
    assert wait_for(lambda: "start_space_task" in first.log_path.read_text(), timeout=5)
    first.kill()
    beat.kill()
    celery_env.start("w2")
    celery_env.beat()  # the restarted beat arms it again (or starts it late if overdue)
    assert wait_for(lambda: state_of(space).state == "live", timeout=8)
    time.sleep(1)
    assert state_of(space).event_seq == 1


def test_reminders_are_emailed_exactly_once(celery_env):
    celery_env.start("w1")
    celery_env.start("w2")
    host = UserFactory(email="host@example.com")
    space = schedule_in(3, host=host)
    fans = [UserFactory(email=f"fan{i}@example.com") for i in range(3)]
    for fan in fans:
        scheduling.reminder_set(space=space, user=fan)
    celery_env.beat()
    assert wait_for(lambda: state_of(space).state == "live", timeout=8)

    def recipients():
        if not celery_env.mail.exists():
            return []
        found = []
        for path in celery_env.mail.iterdir():
            found += [line.split(": ", 1)[1] for line in path.read_text().splitlines() if line.startswith("To: ")]
        return sorted(found)

    expected = sorted([host.email] + [fan.email for fan in fans])
    assert wait_for(lambda: recipients() == expected, timeout=8), recipients()
    time.sleep(1)
    assert recipients() == expected
    assert Notification.objects.filter(space=space, kind="space_started").count() == 3
