"""Scheduling rules: schedule, reschedule and cancel a Space, and set reminders on it.

One scheduled Space per host and the 14-day window hold in the database too (see
``rooms.models.Space``); these functions turn them into errors a person can act on.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format

from rooms import events
from rooms.errors import (
    InPast,
    InvalidTransition,
    NaiveDatetime,
    NotFound,
    NotLive,
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

State = Space.State


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
    idempotent, so a second arming, a reschedule or a cancellation in between is harmless.
    """
    from . import tasks

    now = now or timezone.now()
    due = Space.objects.filter(
        state=State.SCHEDULED, scheduled_for__lte=now + settings.SPACES_ARM_AHEAD
    ).values_list("pk", "scheduled_for")
    report = {"armed": 0, "started": 0, "missed": 0}
    for space_id, scheduled_for in due:
        if scheduled_for > now:
            tasks.start_space_task.apply_async((space_id, scheduled_for.isoformat()), eta=scheduled_for)
            report["armed"] += 1
        elif now - scheduled_for <= settings.SPACES_START_LATE_LIMIT:
            report["started"] += space_start_scheduled(space_id=space_id, armed_for=scheduled_for) is not None
        else:
            report["missed"] += space_mark_missed(space_id=space_id) is not None
    return report


def space_start_scheduled(*, space_id: int, armed_for: datetime) -> Space | None:
    """Start a scheduled Space for the time it was armed with; a no-op if it already started, was
    cancelled or rescheduled (``rooms.services.space_go_live`` decides under the Space's lock).

    On commit, the reminders and the host's notice go out (a task of their own).
    """
    from . import tasks

    try:
        space = space_go_live(space=space_id, expected_scheduled_for=armed_for)
    except OneLiveSpace:
        # The host is live in another Space right now: this one waits; past the late limit it is missed.
        return None
    if space is not None:
        transaction.on_commit(lambda: tasks.notify_space_started_task.delay(space.pk))
    return space


def space_mark_missed(*, space_id: int) -> Space | None:
    """A scheduled Space whose start was missed by more than the late limit (workers were down):
    mark it missed so nothing stays scheduled in the past, and tell the host. Publishes
    ``space.missed``."""
    with transaction.atomic():
        space = lock_space(space_id)
        if space.state != State.SCHEDULED or timezone.now() - space.scheduled_for <= settings.SPACES_START_LATE_LIMIT:
            return None
        space.state = State.MISSED
        space.save(update_fields=["state", "updated_at"])
        events.publish_on_commit(space, "space.missed", space_as_dict(space))
        _notify(
            space.host,
            space,
            Notification.Kind.SPACE_MISSED,
            f"“{space.title}” could not start on time and was marked missed. Schedule it again when you are ready.",
        )
    return space


def space_started_notify(*, space_id: int) -> int:
    """Tell everyone who asked to be reminded, and the host, that a Space is live: an in-app
    notification and an email each, exactly once per person.

    Each reminder is claimed with a conditional update (``sent_at`` null → now), so two workers
    running this at once send each reminder once. Returns how many people were told.
    """
    space = Space.objects.select_related("host").get(pk=space_id)
    told = 0
    if _notify(
        space.host,
        space,
        Notification.Kind.YOUR_SPACE_LIVE,
        f"Your Space “{space.title}” is live. Listeners are arriving: join your stage.",
    ):
        told += 1
    for reminder in Reminder.objects.filter(space=space, sent_at__isnull=True).select_related("user"):
        claimed = Reminder.objects.filter(pk=reminder.pk, sent_at__isnull=True).update(sent_at=timezone.now())
        if claimed and _notify(
            reminder.user,
            space,
            Notification.Kind.SPACE_STARTED,
            f"“{space.title}” by {space.host.get_username()} is live now.",
        ):
            told += 1
    return told


def _notify(user, space: Space, kind: str, message: str) -> bool:
    """Create the in-app notification and email it; once per (person, Space, kind)."""
    with transaction.atomic():
        _, created = Notification.objects.get_or_create(
            user=user, space=space, kind=kind, defaults={"message": message}
        )
    if created and user.email:
        body = render_to_string(
            "emails/notification.txt", {"user": user, "space": space, "message": message}
        )
        send_mail(
            subject=f"Spaces: {space.title}",
            message=body,
            from_email=None,
            recipient_list=[user.email],
            fail_silently=True,
        )
    return created


# --- Ending abandoned Spaces ------------------------------------------------------------------


def spaces_abandoned_end(*, now: datetime | None = None) -> list[Space]:
    """End live Spaces nobody is running any more.

    A Space ends when its host and co-hosts have all been away longer than ``SPACES_HOST_GRACE``;
    a Space the schedule started ends if its host never came within ``SPACES_HOST_NEVER_CAME``.
    Presence is ``Participant.left_at`` (null while present); a host seated by the schedule is
    "away since the start" until they connect.
    """
    now = now or timezone.now()
    ended = []
    for space in Space.objects.filter(state=State.LIVE):
        staff = list(
            space.participants.filter(role__in=Participant.STAFF_ROLES, removed_at__isnull=True).values_list(
                "left_at", flat=True
            )
        )
        if not staff or any(left_at is None for left_at in staff):
            continue
        never_came = space.started_by == Space.StartedBy.SCHEDULE and all(t == space.started_at for t in staff)
        limit = settings.SPACES_HOST_NEVER_CAME if never_came else settings.SPACES_HOST_GRACE
        if now - max(staff) > limit:
            try:
                ended.append(
                    space_end(space=space, actor=None, reason="host_never_came" if never_came else "abandoned")
                )
            except NotLive:
                continue
    return ended


# --- Notifications ---------------------------------------------------------------------------


def notification_mark_read(*, user, notification_id: int) -> Notification:
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
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
