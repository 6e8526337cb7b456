"""Reminders and notifications: the calendar's side of a Space.

``rooms`` owns a Space's life; this app reacts to it through the hooks in ``rooms.signals``
(``scheduling.receivers``): people who asked are reminded when a Space goes live, and hosts are
told when the clock started, missed or ended their Space. Reminders go out twice: shortly before
a Space starts (``SPACES_REMIND_BEFORE``) and when it goes live. Notifications reach people in the
app, by email and by Web Push, each exactly once per channel; a notification whose news stopped
being true (the Space ended, or was cancelled) is marked obsolete and goes out no further.
"""

import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from rooms.errors import InvalidTransition, NotFound, NotPermitted
from rooms.models import Space
from rooms.services import lock_space
from spaces.celery import queue as celery_queue

from . import push
from .models import Notification, PushSubscription, Reminder

logger = logging.getLogger(__name__)

State = Space.State

# Reminders are claimed and turned into notifications this many at a time, one transaction each.
REMINDER_BATCH = 500
# Deliveries still pending this long after their commit were lost on the way and are caught up,
# for Spaces started within PENDING_WITHIN and emails of notifications made within PENDING_EMAIL_WITHIN.
PENDING_AFTER = timedelta(minutes=1)
PENDING_WITHIN = timedelta(hours=1)
PENDING_EMAIL_WITHIN = timedelta(days=1)
# What a notice says that stops being true when a Space ends, or is cancelled.
OBSOLETE_WHEN_ENDED = [
    Notification.Kind.SPACE_SOON,
    Notification.Kind.SPACE_STARTED,
    Notification.Kind.YOUR_SPACE_LIVE,
]
OBSOLETE_WHEN_CANCELLED = [Notification.Kind.SPACE_SOON]
OBSOLETE_WHEN_LIVE = [Notification.Kind.SPACE_SOON]


def reminder_set(*, space: Space, user) -> Reminder:
    """Ask to be reminded shortly before and when a scheduled Space starts. Setting it twice keeps
    one reminder."""
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


def reminders_soon_send(*, now: datetime | None = None) -> int:
    """Tell the people with reminders on every Space that starts within ``SPACES_REMIND_BEFORE``
    that it starts soon (the beat runs this with the start sweep). A Space with less than a
    twentieth of that left (30 s by default) gets no early reminder: its "is live now" one is
    about to go out. Returns how many were told."""
    now = now or timezone.now()
    unsent = Reminder.objects.filter(space=OuterRef("pk"), soon_sent_at__isnull=True)
    lead = settings.SPACES_REMIND_BEFORE
    due = (
        Space.objects.filter(
            state=State.SCHEDULED, scheduled_for__gt=now + lead / 20, scheduled_for__lte=now + lead
        )
        .filter(Exists(unsent))
        .values_list("pk", flat=True)
    )
    return sum(space_soon_notify(space_id=space_id) for space_id in list(due))


def space_soon_notify(*, space_id: int) -> int:
    """"Starts in N minutes" to everyone with an unsent early reminder on a scheduled Space.
    Exactly once per person, as ``space_started_notify``: reminders are claimed under row locks
    (the Space's first, so a cancel or start waits) and marked in the transaction that writes the
    notifications. Returns how many people were told by this call."""
    told = 0
    while True:
        with transaction.atomic():
            space = lock_space(space_id)
            if space.state != State.SCHEDULED or space.scheduled_for is None:
                return told
            claimed = list(
                Reminder.objects.select_for_update()
                .filter(space=space, soon_sent_at__isnull=True)
                .order_by("pk")
                .values_list("pk", "user_id")[:REMINDER_BATCH]
            )
            if not claimed:
                return told
            now = timezone.now()
            Reminder.objects.filter(pk__in=[pk for pk, _ in claimed]).update(soon_sent_at=now)
            minutes = max(1, math.ceil((space.scheduled_for - now).total_seconds() / 60))
            told += len(
                notifications_add(
                    user_ids=[user_id for _, user_id in claimed],
                    space=space,
                    kind=Notification.Kind.SPACE_SOON,
                    message=f"“{space.title}” by {space.host.get_username()} starts in "
                    f"{minutes} minute{'s' if minutes != 1 else ''}.",
                )
            )


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
    _deliver_on_commit([notification])
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
    _deliver_on_commit(created)
    return created


def _deliver_on_commit(notifications: list[Notification]) -> None:
    """After commit, a task per email (people with an address) and per push (people with a
    subscribed browser, when push is configured)."""
    emails = [n.pk for n in notifications if n.user.email]
    subscribed = set()
    if notifications:
        subscribed = set(
            PushSubscription.objects.filter(user_id__in={n.user_id for n in notifications}).values_list(
                "user_id", flat=True
            )
        )
    pushes = [n.pk for n in notifications if n.user_id in subscribed] if subscribed and push.vapid_keys() else []
    if emails or pushes:
        transaction.on_commit(
            lambda: [queue("email_notification_task", pk) for pk in emails]
            + [queue("push_notification_task", pk) for pk in pushes]
        )


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
        if (
            notification is None
            or notification.emailed_at is not None
            or notification.obsolete_at is not None
            or not notification.user.email
        ):
            return False
        user, space = notification.user, notification.space
        body = render_to_string(
            "emails/notification.txt",
            {
                "user": user,
                "space": space,
                "message": notification.message,
                "kind": notification.kind,
                "profile_url": f"{settings.SITE_URL}{reverse('profile')}",
            },
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


def notification_push_send(*, notification_id: int) -> int:
    """Push one notification to every browser its person subscribed, once each: the notification
    row is locked while sending, each subscription it reached is recorded (``pushed_to``) and
    ``pushed_at`` set once all were, in the same transaction, so a duplicate task waits and then
    finds it sent, and a retry sends only to the browsers not reached yet. A subscription the
    push service says is gone (404/410) is deleted. Any other failure is recorded after the
    others' progress commits, then raised (the task retries). Returns how many browsers got it."""
    failures = []
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("space", "space__host")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.pushed_at is not None or notification.obsolete_at is not None:
            return 0
        if push.vapid_keys() is None:
            return 0
        space = notification.space
        payload = {
            "title": space.title,
            "body": notification.message,
            "url": space.share_url,
            "tag": f"space-{space.code}",
            "kind": notification.kind,
        }
        sent = 0
        for subscription in PushSubscription.objects.filter(user_id=notification.user_id).exclude(
            pk__in=notification.pushed_to
        ):
            try:
                push.push_send(subscription=subscription.info, payload=payload)
            except push.SubscriptionGone:
                logger.info("Push subscription %s is gone; deleted", subscription.pk)
                subscription.delete()
                continue
            except push.PushFailed as error:
                failures.append(str(error))
                continue
            notification.pushed_to.append(subscription.pk)
            sent += 1
        if not failures:
            notification.pushed_at = timezone.now()
        notification.save(update_fields=["pushed_to", "pushed_at"])
    if failures:
        raise push.PushFailed("; ".join(failures))
    return sent


def notifications_obsolete(*, space: Space, kinds: list[str]) -> int:
    """Mark the notices of these kinds about ``space`` obsolete (and read): what they say is no
    longer true, so they leave people's lists and no email or push of them goes out any more."""
    now = timezone.now()
    return (
        Notification.objects.filter(space=space, kind__in=kinds, obsolete_at__isnull=True)
        .update(obsolete_at=now, read_at=Coalesce("read_at", Value(now)))
    )


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
    recent = Notification.objects.filter(
        obsolete_at__isnull=True, created_at__lt=settled, created_at__gte=now - PENDING_EMAIL_WITHIN
    )
    emails = list(recent.filter(emailed_at__isnull=True).exclude(user__email="").values_list("pk", flat=True))
    for notification_id in emails:
        queue("email_notification_task", notification_id)
    subscribed = PushSubscription.objects.filter(user=OuterRef("user"))
    pushes = list(recent.filter(pushed_at__isnull=True).filter(Exists(subscribed)).values_list("pk", flat=True))
    if pushes and push.vapid_keys() is None:
        pushes = []
    for notification_id in pushes:
        queue("push_notification_task", notification_id)
    return {"spaces": len(spaces), "emails": len(emails), "pushes": len(pushes)}


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

