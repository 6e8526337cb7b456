"""A Space's life: created live or scheduled, edited and rescheduled, cancelled, gone live, ended.

::

    schedule ──► SCHEDULED ──start (scheduler or host)──► LIVE ──end──► ENDED
    create now ────────────────────────────────────────────┘
                 SCHEDULED ──cancel──► CANCELLED    SCHEDULED ──start missed──► MISSED

The missed and abandoned transitions, which the clock drives, are in ``timekeeping``. Each
transition fires its hook in ``rooms.signals`` inside the transaction, for the apps around rooms.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format

from .. import events, guests, presence, signals
from ..errors import InvalidTransition, NotLive, OneLiveSpace, OneScheduledSpace
from ..models import Participant, Space
from . import media
from .access import require_host_or_staff
from .attendance import space_listener_totals
from .locks import lock_space
from .validation import clean_description, clean_schedule_time, clean_title

State = Space.State
Role = Participant.Role


def space_create(
    *,
    host: AbstractBaseUser,
    title: str,
    description: str = "",
    scheduled_for: datetime | None = None,
    record: bool = False,
) -> Space:
    """Create a Space for ``host``: live at once with the host on its stage, or, with
    ``scheduled_for`` (aware; stored in UTC), scheduled for then.

    Raises ``OneLiveSpace`` / ``OneScheduledSpace`` naming the host's existing Space, ``InPast``,
    ``TooFarAhead`` (with the latest allowed time) or ``NaiveDatetime``. The database's partial
    unique constraints decide between concurrent requests. Publishes ``space.started`` for a live
    Space (a scheduled one has no room to tell yet).
    """
    title, description = clean_title(title), clean_description(description)
    now = timezone.now()
    state = State.LIVE if scheduled_for is None else State.SCHEDULED
    if scheduled_for is not None:
        scheduled_for = clean_schedule_time(scheduled_for, now=now)
    one_of_a_kind = _one_live_space if state == State.LIVE else _one_scheduled_space
    with transaction.atomic():
        existing = Space.objects.filter(host=host, state=state).first()
        if existing:
            raise one_of_a_kind(existing)
        fields = {"host": host, "title": title, "description": description, "record": bool(record), "state": state}
        if state == State.LIVE:
            fields |= {"started_at": now, "started_by": Space.StartedBy.HOST}
        else:
            fields |= {"scheduled_for": scheduled_for, "scheduled_on": now}
        try:
            with transaction.atomic():
                space = Space.objects.create(**fields)
        except IntegrityError:
            # A concurrent request by the same host got there first.
            raise one_of_a_kind(Space.objects.filter(host=host, state=state).first())
        if state == State.LIVE:
            _open(space, by_schedule=False)
    return space


def space_go_live(*, space: Space | int, actor=None, expected_scheduled_for: datetime | None = None) -> Space | None:
    """Turn a scheduled Space live: by its host or staff ("start now"), or by the scheduler
    (``actor=None``) for the ``scheduled_for`` it was armed with.

    Locks the Space. For the scheduler this is idempotent: a Space that is no longer scheduled,
    or was rescheduled since it was armed, is left alone and ``None`` is returned.
    Publishes ``space.started``; fires ``space_went_live``.
    """
    with transaction.atomic():
        space = lock_space(space)
        if actor is None:
            if space.state != State.SCHEDULED:
                return None
            if expected_scheduled_for is not None and space.scheduled_for != expected_scheduled_for:
                return None
        else:
            require_host_or_staff(actor, space, "start this Space")
            if space.state != State.SCHEDULED:
                raise InvalidTransition(
                    f"This Space is {space.get_state_display().lower()}; only a scheduled Space can start."
                )
        existing = Space.objects.filter(host_id=space.host_id, state=State.LIVE).first()
        if existing:
            raise _one_live_space(existing)
        space.state = State.LIVE
        space.started_at = timezone.now()
        space.started_by = Space.StartedBy.SCHEDULE if actor is None else Space.StartedBy.HOST
        space.save(update_fields=["state", "started_at", "started_by", "updated_at"])
        _open(space, by_schedule=actor is None)
    return space


def _open(space: Space, *, by_schedule: bool) -> None:
    # Started by the schedule, the host is seated but not here until they connect.
    _seat_host(space, absent_since=space.started_at if by_schedule else None)
    media.room_open_on_commit(space)
    events.publish_on_commit(space, events.space_started(space))
    signals.space_went_live.send(sender=Space, space=space, by_schedule=by_schedule)


def _seat_host(space: Space, *, absent_since=None) -> Participant:
    participant, _ = Participant.objects.update_or_create(
        space=space,
        user=space.host,
        defaults={
            "role": Role.HOST,
            "display_name": space.host.get_username(),
            "media_token": media.new_speaker_token(),
            "media_id": media.new_media_id(),
            "left_at": absent_since,
        },
    )
    return participant


def space_update(
    *,
    space: Space,
    actor,
    title: str | None = None,
    description: str | None = None,
    scheduled_for: datetime | None = None,
) -> Space:
    """Edit the title or description of a scheduled or live Space, and reschedule a scheduled one
    (the 14-day window is measured again from now). Host or staff only; all of it lands or none.

    Locks the Space. Publishes ``space.updated`` when something changed.
    """
    now = timezone.now()
    title = clean_title(title) if title is not None else None
    description = clean_description(description) if description is not None else None
    if scheduled_for is not None:
        scheduled_for = clean_schedule_time(scheduled_for, now=now)
    with transaction.atomic():
        space = lock_space(space)
        require_host_or_staff(actor, space, "edit this Space")
        if space.state not in (State.SCHEDULED, State.LIVE):
            raise InvalidTransition(f"This Space is {space.get_state_display().lower()} and can no longer be edited.")
        if scheduled_for is not None and space.state != State.SCHEDULED:
            raise InvalidTransition(
                f"This Space is {space.get_state_display().lower()}; only a scheduled Space can be rescheduled."
            )
        changed = []
        if title is not None and title != space.title:
            space.title = title
            changed.append("title")
        if description is not None and description != space.description:
            space.description = description
            changed.append("description")
        if scheduled_for is not None and scheduled_for != space.scheduled_for:
            space.scheduled_for, space.scheduled_on = scheduled_for, now
            changed += ["scheduled_for", "scheduled_on"]
        if changed:
            space.save(update_fields=[*changed, "updated_at"])
            events.publish_on_commit(space, events.space_updated(space))
    return space


def space_reschedule(*, space: Space, actor, scheduled_for: datetime) -> Space:
    """Move a scheduled Space to a new time (``space_update`` with only the time)."""
    if scheduled_for is None:
        raise TypeError("scheduled_for is required")
    return space_update(space=space, actor=actor, scheduled_for=scheduled_for)


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
        events.publish_on_commit(space, events.space_cancelled(space))
        signals.space_cancelled.send(sender=Space, space=space)
    return space


def space_end(*, space: Space | int, actor=None, reason: str = "host", limit=None) -> Space:
    """End a live Space: by its host or staff, or by the system (``actor=None``, with the
    ``reason`` and the ``limit`` that ran out).

    Locks the Space; everyone still present leaves with it. Publishes ``space.ended``; fires
    ``space_ended``; the media room closes (and becomes the replay) after commit.
    """
    with transaction.atomic():
        space = lock_space(space)
        if actor is not None:
            require_host_or_staff(actor, space, "end this Space")
        if space.state != State.LIVE:
            raise NotLive("This Space is not live, so it cannot be ended.")
        now = timezone.now()
        space.state = State.ENDED
        space.ended_at = now
        space.save(update_fields=["state", "ended_at", "updated_at", *space_listener_totals(space)])
        space.participants.present().update(left_at=now, hand_raised_at=None)
        events.publish_on_commit(space, events.space_ended(space, reason=reason))
        space_id = space.pk
        transaction.on_commit(lambda: (presence.forget_space(space_id), guests.forget_space(space_id)))
        media.room_close_on_commit(space)
        signals.space_ended.send(sender=Space, space=space, reason=reason, limit=limit)
    return space


def _one_live_space(existing: Space | None) -> OneLiveSpace:
    if existing is None:
        return OneLiveSpace("You already have a live Space. End it before starting another.")
    return OneLiveSpace(
        f"You already have a live Space, “{existing.title}”. End it before starting another.",
        space={"code": existing.code, "title": existing.title, "url": existing.share_url},
    )


def _one_scheduled_space(existing: Space | None) -> OneScheduledSpace:
    if existing is None:
        return OneScheduledSpace("You already have a scheduled Space; cancel or start it first.")
    when = date_format(existing.scheduled_for, "DATETIME_FORMAT")
    return OneScheduledSpace(
        f"You already have a scheduled Space, “{existing.title}” on {when} UTC ({existing.share_url}). "
        "Cancel it or start it before scheduling another.",
        space={"code": existing.code, "title": existing.title, "url": existing.share_url},
    )
