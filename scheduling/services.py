"""Reminders and notifications: the calendar's side of a Space.

``rooms`` owns a Space's life; this app reacts to it through the hooks in ``rooms.signals``
(``scheduling.receivers``): people who asked are reminded when a Space goes live, and hosts are
told when the clock started, missed or ended their Space. Notifications reach people in the app
and by email, each exactly once.
"""

import logging
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone

from rooms.errors import InvalidTransition, NotFound, NotPermitted
from rooms.models import Space
from rooms.services import lock_space
from spaces.celery import queue as celery_queue

from .models import Notification, Reminder

logger = logging.getLogger(__name__)

State = Space.State

# Reminders are claimed and turned into notifications this many at a time, one transaction each.
REMINDER_BATCH = 500
# Deliveries still pending this long after their commit were lost on the way and are caught up,
# for Spaces started within PENDING_WITHIN and emails of notifications made within PENDING_EMAIL_WITHIN.
PENDING_AFTER = timedelta(minutes=1)
PENDING_WITHIN = timedelta(hours=1)
PENDING_EMAIL_WITHIN = timedelta(days=1)


def reminder_set(*, space: Space, user) -> Reminder:
    """Ask to be reminded when a scheduled Space starts. Setting it twice keeps one reminder."""
    if user is None or not user.is_authenticated:
        raise NotPermitted("Sign in to set a reminder.", code="not_authenticated")
    with transaction.atomic():
        space = lock_space(space)
        if space.state != State.SCHEDULED:
            raise InvalidTransition("Reminders can only be set on a Space that has not started yet.")
        reminder, _ = Reminder.objects.get_or_create(space=space, user=user)
    return reminder


def reminder_remove(*, space: Space, user) -> None:
    if user is None or not user.is_authenticated:
        raise NotPermitted("Sign in to manage reminders.", code="not_authenticated")
    Reminder.objects.filter(space=space, user=user, sent_at__isnull=True).delete()


# --- Reminders and notices -------------------------------------------------------------------


def space_started_notify(*, space_id: int) -> int:
    """Tell everyone who asked to be reminded that a Space is live, and its host if the schedule
    started it: an in-app notification each, then an email each (a task per email, after commit).
    Exactly once per person: the unsent reminders are claimed under row locks and marked sent in
    the same transaction that writes the notifications, and notifications are unique per (person,
    Space, kind), so two workers running this at once, or a rerun, tell nobody twice.
    Returns how many people were told by this call.
    """
    space = Space.objects.select_related("host").filter(pk=space_id, state=State.LIVE).first()
    if space is None:
        # Ended (or gone) before anyone was told: "it is live" would no longer be true.
        return 0
    told = 0
    if space.started_by == Space.StartedBy.SCHEDULE:
        with transaction.atomic():
            told += notification_add(
                user=space.host,
                space=space,
                kind=Notification.Kind.YOUR_SPACE_LIVE,
                message=f"Your Space “{space.title}” is live. Listeners are arriving: join your stage.",
            ) is not None
    message = f"“{space.title}” by {space.host.get_username()} is live now."
    while True:
        with transaction.atomic():
            claimed = list(
                Reminder.objects.select_for_update()
                .filter(space=space, sent_at__isnull=True)
                .order_by("pk")
                .values_list("pk", "user_id")[:REMINDER_BATCH]
            )
            if not claimed:
                return told
            Reminder.objects.filter(pk__in=[pk for pk, _ in claimed]).update(sent_at=timezone.now())
            told += len(
                notifications_add(
                    user_ids=[user_id for _, user_id in claimed],
                    space=space,
                    kind=Notification.Kind.SPACE_STARTED,
                    message=message,
                )
            )


def notification_add(*, user, space: Space, kind: str, message: str) -> Notification | None:
    """Give ``user`` an in-app notification about ``space``, once per kind (the unique constraint
    decides between concurrent callers); its email is sent by a task after commit. Returns
    ``None`` if they already had it."""
    try:
        with transaction.atomic():
            notification = Notification.objects.create(user=user, space=space, kind=kind, message=message)
    except IntegrityError:
        return None
    _email_on_commit([notification.pk] if user.email else [])
    return notification


def notifications_add(*, user_ids: list[int], space: Space, kind: str, message: str) -> list[Notification]:
    """``notification_add`` for many people at once, for callers that already hold a claim on
    them (claimed reminders): returns the notifications made, skipping anyone who had one."""
    existing = set(
        Notification.objects.filter(space=space, kind=kind, user_id__in=user_ids).values_list("user_id", flat=True)
    )
    fresh = [uid for uid in user_ids if uid not in existing]
    Notification.objects.bulk_create(
        [Notification(user_id=uid, space=space, kind=kind, message=message) for uid in fresh], ignore_conflicts=True
    )
    created = list(
        Notification.objects.filter(space=space, kind=kind, user_id__in=fresh, emailed_at__isnull=True).select_related(
            "user"
        )
    )
    _email_on_commit([n.pk for n in created if n.user.email])
    return created


def _email_on_commit(notification_ids: list[int]) -> None:
    if notification_ids:
        transaction.on_commit(lambda: [queue("email_notification_task", pk) for pk in notification_ids])


def queue(task: str, *args) -> None:
    """Queue ``scheduling.tasks.<task>`` (by name: the tasks import the services)."""
    celery_queue(f"scheduling.tasks.{task}", *args)


def notification_email_send(*, notification_id: int) -> bool:
    """Email one notification through Django's email backend, once: the notification row is
    locked while sending and ``emailed_at`` is set in the same transaction, so a duplicate task
    waits and then finds it sent. A backend failure raises (the task retries); only a worker that
    dies between the mail server accepting the message and the commit sends it again.
    Returns whether an email went out."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("user", "space", "space__host")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.emailed_at is not None or not notification.user.email:
            return False
        user, space = notification.user, notification.space
        body = render_to_string(
            "emails/notification.txt",
            {"user": user, "space": space, "message": notification.message, "kind": notification.kind},
        )
        send_mail(
            subject=f"Spaces: {notification.message}"[:150],
            message=body,
            from_email=None,
            recipient_list=[user.email],
            fail_silently=False,
        )
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
    return True


def notifications_deliver_pending(*, now: datetime | None = None) -> dict:
    """Catch up on deliveries lost between a commit and its task (a worker or broker that died in
    that moment): reminders still unsent on Spaces live for more than a minute, and emails still
    unsent for notifications older than a minute (up to a day old). Both steps are idempotent, so
    catching up on something that was merely slow is harmless. The beat runs this every minute."""
    now = now or timezone.now()
    settled = now - PENDING_AFTER
    unsent_reminders = Reminder.objects.filter(space=OuterRef("pk"), sent_at__isnull=True)
    host_told = Notification.objects.filter(
        space=OuterRef("pk"), user=OuterRef("host"), kind=Notification.Kind.YOUR_SPACE_LIVE
    )
    spaces = list(
        Space.objects.filter(state=State.LIVE, started_at__lt=settled, started_at__gte=now - PENDING_WITHIN)
        .filter(Exists(unsent_reminders) | (Q(started_by=Space.StartedBy.SCHEDULE) & ~Exists(host_told)))
        .values_list("pk", flat=True)
    )
    for space_id in spaces:
        queue("notify_space_started_task", space_id)
    emails = list(
        Notification.objects.filter(
            emailed_at__isnull=True, created_at__lt=settled, created_at__gte=now - PENDING_EMAIL_WITHIN
        )
        .exclude(user__email="")
        .values_list("pk", flat=True)
    )
    for notification_id in emails:
        queue("email_notification_task", notification_id)
    return {"spaces": len(spaces), "emails": len(emails)}


# --- Notifications ---------------------------------------------------------------------------


def notification_mark_read(*, user, notification_id: int) -> Notification:
    """Mark one of ``user``'s notifications read; reading it again changes nothing. Someone
    else's notification is ``NotFound``, exactly like one that does not exist."""
    if user is None or not user.is_authenticated:
        raise NotPermitted("Sign in to manage notifications.", code="not_authenticated")
    notification = Notification.objects.filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound("There is no such notification.", code="notification_not_found")
    if notification.read_at is None:
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=timezone.now())
        notification.refresh_from_db()
    return notification


def notifications_mark_all_read(*, user) -> int:
    if user is None or not user.is_authenticated:
        raise NotPermitted("Sign in to manage notifications.", code="not_authenticated")
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
