"""Scheduling rules: schedule, reschedule and cancel a Space, and set reminders on it.

One scheduled Space per host and the 14-day window hold in the database too (see
``rooms.models.Space``); these functions turn them into errors a person can act on.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format

from rooms import events
from rooms.errors import (
    InPast,
    InvalidTransition,
    NaiveDatetime,
    NotPermitted,
    OneScheduledSpace,
    TooFarAhead,
)
from rooms.models import Space
from rooms.selectors import space_as_dict
from rooms.services import clean_description, clean_title, lock_space, require_host_or_staff

from .models import Reminder

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
