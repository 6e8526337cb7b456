import os
import time

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import task_postrun, task_prerun

from spaces import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")

app = Celery("spaces")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task that takes a Space's id logs with the Space's code (spaces.logs).
task_prerun.connect(logs.task_started)
task_postrun.connect(logs.task_finished)

HEARTBEAT_TASK = "spaces.celery.heartbeat_task"


def queue(task: str, *args, **options):
    """Queue the task named ``task`` (``"rooms.tasks.start_space_task"``) with ``args``.

    Services queue tasks by name because the tasks import the services, never the other way
    round. Each app's tasks are imported when Django starts (``AppConfig.ready``), so the name is
    known here and the task's own options apply (eager mode in tests, retries)."""
    return app.tasks[task].apply_async(args, **options)


@app.task(name=HEARTBEAT_TASK, ignore_result=True)
def heartbeat_task(sent_at: float | None = None):
    """Beat sends it with the moment it did; the worker that runs it records both (spaces.health)."""
    from spaces import health

    health.heartbeat_record(sent_at)


class Scheduler(PersistentScheduler):
    """Celery beat's default scheduler (``CELERY_BEAT_SCHEDULER``), which hands the heartbeat the
    moment it is sent, so that a worker can tell when beat was last seen."""

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        if entry.task == HEARTBEAT_TASK:
            entry.args = (time.time(),)
        return super().apply_async(entry, producer, advance, **kwargs)
