"""Celery tasks of the calendar's side: each loads ids, calls one service, and is idempotent
because the service is."""

from celery import shared_task

from . import services
from .push import PushFailed


@shared_task
def notify_space_started_task(space_id: int):
    return services.space_started_notify(space_id=space_id)


# A mail server that is down or refuses for a while (OSError covers smtplib's errors): retry.
@shared_task(autoretry_for=(OSError,), retry_backoff=10, retry_backoff_max=240, max_retries=8)
def email_notification_task(notification_id: int):
    return services.notification_email_send(notification_id=notification_id)


# A push service that is down or refusing for a while: retry (only the browsers not reached yet).
@shared_task(autoretry_for=(PushFailed,), retry_backoff=10, retry_backoff_max=240, max_retries=8)
def push_notification_task(notification_id: int):
    return services.notification_push_send(notification_id=notification_id)


@shared_task
def remind_soon_task():
    return services.reminders_soon_send()


@shared_task
def deliver_pending_notifications_task():
    return services.notifications_deliver_pending()
