"""Celery tasks: each loads ids, calls one service, and is idempotent because the service is.

``acks_late`` (settings) keeps a task on the broker until it finished, so a worker killed
mid-task leaves it to be redelivered; the beat's next sweep covers it sooner.
"""

from celery import shared_task
from django.utils.dateparse import parse_datetime

from rooms.services import presence_sweep

from . import services


@shared_task
def sweep_due_spaces_task():
    return services.spaces_due_sweep()


@shared_task
def start_space_task(space_id: int, armed_for: str):
    space = services.space_start_scheduled(space_id=space_id, armed_for=parse_datetime(armed_for))
    return space is not None


@shared_task
def notify_space_started_task(space_id: int):
    return services.space_started_notify(space_id=space_id)


# A mail server that is down or refuses for a while (OSError covers smtplib's errors): retry.
@shared_task(autoretry_for=(OSError,), retry_backoff=10, retry_backoff_max=240, max_retries=8)
def email_notification_task(notification_id: int):
    return services.notification_email_send(notification_id=notification_id)


@shared_task
def deliver_pending_notifications_task():
    return services.notifications_deliver_pending()


@shared_task
def end_abandoned_spaces_task():
    return [space.pk for space in services.spaces_abandoned_end()]


@shared_task
def presence_sweep_task():
    return presence_sweep()
