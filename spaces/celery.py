import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")

app = Celery("spaces")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def queue(task: str, *args, **options):
    """Queue the task named ``task`` (``"rooms.tasks.start_space_task"``) with ``args``.

    Services queue tasks by name because the tasks import the services, never the other way
    round. Each app's tasks are imported when Django starts (``AppConfig.ready``), so the name is
    known here and the task's own options apply (eager mode in tests, retries)."""
    return app.tasks[task].apply_async(args, **options)
