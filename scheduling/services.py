"""Scheduling rules: schedule, reschedule and cancel a Space, and set reminders on it.

One scheduled Space per host and the 14-day window hold in the database too (see
``rooms.models.Space``); these functions turn them into errors a person can act on.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format

from rooms import events
from rooms.errors import (
    InPast,
    InvalidTransition,
    NaiveDatetime,
    NotFound,
    NotPermitted,
    OneLiveSpace,
    OneScheduledSpace,
    TooFarAhead,
)
from rooms.models import Participant, Space
from rooms.selectors import space_as_dict
from rooms.services import (
    clean_description,
    clean_title,
    lock_space,
    require_host_or_staff,
    space_end,
    space_go_live,
)

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


def check_schedule_time(scheduled_for, *, now: datetime) -> datetime:
    """The time, in UTC, if it lies in the future and within the window from ``now``."""
    if not isinstance(scheduled_for, datetime):
        raise NaiveDatetime("Give the start time as an ISO-8601 date and time with a UTC offset.")
    if timezone.is_naive(scheduled_for):
        raise NaiveDatetime(
            "Give the start time with a UTC offset, e.g. 2026-12-01T18:00:00+01:00, "
            "so it means the same moment everywhere."
        )
    scheduled_for = scheduled_for.astimezone(UTC)
    if scheduled_for <= now:
        raise InPast("The start time is in the past; pick a time in the future.")
    latest = now + settings.SPACES_MAX_SCHEDULE_AHEAD
    if scheduled_for > latest:
        days = settings.SPACES_MAX_SCHEDULE_AHEAD.days
        raise TooFarAhead(
            f"A Space can be scheduled at most {days} days ahead: the latest you can pick now is "
            f"{date_format(latest, 'DATETIME_FORMAT')} UTC ({latest.isoformat()}).",
            latest_allowed=latest.isoformat(),
        )
    return scheduled_for


def space_schedule(
    *,
    host,
    title: str,
    scheduled_for: datetime,
    description: str = "",
    record: bool = False,
) -> Space:
    """Schedule a Space for ``host`` at ``scheduled_for`` (aware; stored in UTC).

    Raises ``OneScheduledSpace`` naming the host's existing scheduled Space, ``InPast``,
    ``TooFarAhead`` (with the latest allowed time) or ``NaiveDatetime``.
    """
    title, description = clean_title(title), clean_description(description)
    now = timezone.now()
    scheduled_for = check_schedule_time(scheduled_for, now=now)
    with transaction.atomic():
        existing = Space.objects.filter(host=host, state=State.SCHEDULED).first()
        if existing:
            raise _one_scheduled(existing)
        try:
            with transaction.atomic():
                space = Space.objects.create(
                    host=host,
                    title=title,
                    description=description,
                    record=bool(record),
                    state=State.SCHEDULED,
                    scheduled_for=scheduled_for,
                    scheduled_on=now,
                )
        except IntegrityError:
            # Another request by the same host got there first.
            raise _one_scheduled(Space.objects.filter(host=host, state=State.SCHEDULED).first())
    return space


def space_reschedule(*, space: Space, actor, scheduled_for: datetime) -> Space:
    """Move a scheduled Space to a new time; the window is measured again from now.

    Locks the Space. Publishes ``space.updated``.
    """
    now = timezone.now()
    scheduled_for = check_schedule_time(scheduled_for, now=now)
    with transaction.atomic():
        space = lock_space(space)
        require_host_or_staff(actor, space, "reschedule this Space")
        if space.state != State.SCHEDULED:
            raise InvalidTransition(
                f"This Space is {space.get_state_display().lower()}; only a scheduled Space can be rescheduled."
            )
        if space.scheduled_for == scheduled_for:
            return space
        space.scheduled_for = scheduled_for
        space.scheduled_on = now
        space.save(update_fields=["scheduled_for", "scheduled_on", "updated_at"])
        events.publish_on_commit(space, "space.updated", space_as_dict(space))
    return space


def space_cancel(*, space: Space, actor) -> Space:
    """Cancel a scheduled Space. Host or staff. Locks the Space. Publishes ``space.cancelled``."""
    with transaction.atomic():
        space = lock_space(space)
        require_host_or_staff(actor, space, "cancel this Space")
        if space.state != State.SCHEDULED:
            raise InvalidTransition(
                f"This Space is {space.get_state_display().lower()}; only a scheduled Space can be cancelled."
            )
        space.state = State.CANCELLED
        space.save(update_fields=["state", "updated_at"])
        events.publish_on_commit(space, "space.cancelled", space_as_dict(space))
    return space


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


def _one_scheduled(existing: Space | None) -> OneScheduledSpace:
    if existing is None:
        return OneScheduledSpace("You already have a scheduled Space; cancel or start it first.")
    when = date_format(existing.scheduled_for, "DATETIME_FORMAT")
    return OneScheduledSpace(
        f"You already have a scheduled Space, “{existing.title}” on {when} UTC ({existing.share_url}). "
        "Cancel it or start it before scheduling another.",
        space={"code": existing.code, "title": existing.title, "url": existing.share_url},
    )


# --- Starting on time ------------------------------------------------------------------------


def spaces_due_sweep(*, now: datetime | None = None) -> dict:
    """What the beat runs every ``SPACES_SWEEP_INTERVAL``: arm a start, with a short ETA, for each
    Space due within the coming ``SPACES_ARM_AHEAD``; start any that are overdue by at most
    ``SPACES_START_LATE_LIMIT``; mark older ones missed.

    Spaces are never parked as long-ETA tasks (the broker would redeliver them past its visibility
    timeout): every start is armed at most a minute ahead, and ``space_start_scheduled`` is
    idempotent, so a second arming, a reschedule or a cancellation in between is harmless. One
    Space failing does not hold up the others; it is logged and the next sweep tries again.
    """
    from . import tasks

    now = now or timezone.now()
    due = Space.objects.filter(
        state=State.SCHEDULED, scheduled_for__lte=now + settings.SPACES_ARM_AHEAD
    ).order_by("scheduled_for").values_list("pk", "scheduled_for")
    report = {"armed": 0, "started": 0, "missed": 0}
    for space_id, scheduled_for in due:
        try:
            if scheduled_for > now:
                tasks.start_space_task.apply_async((space_id, scheduled_for.isoformat()), eta=scheduled_for)
                report["armed"] += 1
            elif now - scheduled_for <= settings.SPACES_START_LATE_LIMIT:
                report["started"] += space_start_scheduled(space_id=space_id, armed_for=scheduled_for) is not None
            else:
                report["missed"] += space_mark_missed(space_id=space_id, now=now) is not None
        except Exception:
            logger.exception("Sweep could not handle scheduled Space %s; the next sweep tries again", space_id)
    return report


def space_start_scheduled(*, space_id: int, armed_for: datetime) -> Space | None:
    """Start a scheduled Space for the time it was armed with; a no-op (``None``) if it already
    started, was cancelled, rescheduled or deleted (``rooms.services.space_go_live`` decides under
    the Space's lock). Reminders and the host's notice follow from ``space_go_live``.
    """
    try:
        return space_go_live(space=space_id, expected_scheduled_for=armed_for)
    except Space.DoesNotExist:
        return None
    except OneLiveSpace:
        # The host is live in another Space right now: this one waits; past the late limit it is missed.
        return None


def space_mark_missed(*, space_id: int, now: datetime | None = None) -> Space | None:
    """A scheduled Space whose start was missed by more than the late limit (workers were down):
    mark it missed so nothing stays scheduled in the past, and tell the host. Locks the Space.
    Publishes ``space.missed``; a Space that is not (or no longer) overdue is left alone."""
    now = now or timezone.now()
    with transaction.atomic():
        space = lock_space(space_id)
        if space.state != State.SCHEDULED or now - space.scheduled_for <= settings.SPACES_START_LATE_LIMIT:
            return None
        space.state = State.MISSED
        space.save(update_fields=["state", "updated_at"])
        events.publish_on_commit(space, "space.missed", space_as_dict(space))
        notification_add(
            user=space.host,
            space=space,
            kind=Notification.Kind.SPACE_MISSED,
            message=f"“{space.title}” could not start on time and was marked missed. "
            "Schedule it again when you are ready.",
        )
    return space


# --- Reminders and notices -------------------------------------------------------------------


def space_started_notify_on_commit(space: Space) -> None:
    """Called by ``rooms.services.space_go_live`` inside its transaction: once the start commits,
    a task tells the people with reminders, and the host if the schedule started it."""
    from . import tasks

    space_id = space.pk
    transaction.on_commit(lambda: tasks.notify_space_started_task.delay(space_id))


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
    from . import tasks

    if notification_ids:
        transaction.on_commit(lambda: [tasks.email_notification_task.delay(pk) for pk in notification_ids])


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
    from . import tasks

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
        tasks.notify_space_started_task.delay(space_id)
    emails = list(
        Notification.objects.filter(
            emailed_at__isnull=True, created_at__lt=settled, created_at__gte=now - PENDING_EMAIL_WITHIN
        )
        .exclude(user__email="")
        .values_list("pk", flat=True)
    )
    for notification_id in emails:
        tasks.email_notification_task.delay(notification_id)
    return {"spaces": len(spaces), "emails": len(emails)}


# --- Ending abandoned Spaces ------------------------------------------------------------------


def spaces_abandoned_end(*, now: datetime | None = None) -> list[Space]:
    """End live Spaces nobody is running any more (the beat runs this every minute).

    A Space ends when its host and co-hosts have all been away longer than ``SPACES_HOST_GRACE``;
    a Space the schedule started ends if its host never came within ``SPACES_HOST_NEVER_CAME``.
    One query finds the candidates; each is checked again under its lock before it ends.
    """
    now = now or timezone.now()
    staff = Participant.objects.filter(space=OuterRef("pk"), role__in=Participant.STAFF_ROLES, removed_at__isnull=True)
    shortest = min(settings.SPACES_HOST_GRACE, settings.SPACES_HOST_NEVER_CAME)
    candidates = (
        Space.objects.filter(state=State.LIVE)
        .annotate(
            staff_present=Exists(staff.filter(left_at__isnull=True)),
            staff_away_since=Coalesce(
                Subquery(staff.order_by(F("left_at").desc(nulls_last=True)).values("left_at")[:1]), F("started_at")
            ),
        )
        .filter(staff_present=False, staff_away_since__lt=now - shortest)
        .values_list("pk", flat=True)
    )
    ended = []
    for space_id in candidates:
        space = space_end_if_abandoned(space_id=space_id, now=now)
        if space is not None:
            ended.append(space)
    return ended


def space_end_if_abandoned(*, space_id: int, now: datetime | None = None) -> Space | None:
    """End one live Space if its host and co-hosts are still all away past their limit, checked
    under the Space's lock (a host joining takes the same lock, so a host who just came back is
    seen). Presence is ``Participant.left_at``, null while present; a host seated by the schedule
    is away since the start (``left_at == started_at``) until they first connect, which is how
    "never came" is told apart from "came and left". Publishes ``space.ended`` with the reason
    (``abandoned`` or ``host_never_came``) and tells the host."""
    now = now or timezone.now()
    with transaction.atomic():
        space = lock_space(space_id)
        if space.state != State.LIVE:
            return None
        away = list(
            space.participants.filter(role__in=Participant.STAFF_ROLES, removed_at__isnull=True).values_list(
                "left_at", flat=True
            )
        )
        if any(left_at is None for left_at in away):
            return None
        never_came = space.started_by == Space.StartedBy.SCHEDULE and all(t == space.started_at for t in away)
        limit = settings.SPACES_HOST_NEVER_CAME if never_came else settings.SPACES_HOST_GRACE
        if now - max(away, default=space.started_at) <= limit:
            return None
        space = space_end(space=space, actor=None, reason="host_never_came" if never_came else "abandoned")
        minutes = round(limit.total_seconds() / 60)
        notification_add(
            user=space.host,
            space=space,
            kind=Notification.Kind.SPACE_ENDED,
            message=f"“{space.title}” ended because its host did not come within {minutes} minutes of its start."
            if never_came
            else f"“{space.title}” ended because no host was in it for {minutes} minutes.",
        )
    return space


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
