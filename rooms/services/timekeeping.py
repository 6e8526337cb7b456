"""What the clock does to Spaces (the beat runs these): scheduled Spaces start on time, or are
marked missed; live Spaces nobody runs any more end.

Spaces are never parked as long-ETA tasks (the broker would redeliver them past its visibility
timeout): every start is armed at most ``SPACES_ARM_AHEAD`` ahead, and starting is idempotent, so a
second arming, a reschedule or a cancellation in between is harmless.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from spaces.celery import queue

from .. import events, signals
from ..errors import OneLiveSpace
from ..models import Participant, Space
from .lifecycle import space_end, space_go_live
from .locks import lock_space

logger = logging.getLogger(__name__)
State = Space.State


def spaces_due_sweep(*, now: datetime | None = None) -> dict:
    """Arm a start, with a short ETA, for each Space due within the coming ``SPACES_ARM_AHEAD``;
    start any that are overdue by at most ``SPACES_START_LATE_LIMIT``; mark older ones missed.
    One Space failing does not hold up the others; it is logged and the next sweep tries again."""
    now = now or timezone.now()
    due = (
        Space.objects.filter(state=State.SCHEDULED, scheduled_for__lte=now + settings.SPACES_ARM_AHEAD)
        .order_by("scheduled_for")
        .values_list("pk", "scheduled_for")
    )
    report = {"armed": 0, "started": 0, "missed": 0}
    for space_id, scheduled_for in due:
        try:
            if scheduled_for > now:
                # Queued by name: the tasks import the services, never the other way round.
                queue("rooms.tasks.start_space_task", space_id, scheduled_for.isoformat(), eta=scheduled_for)
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
    started, was cancelled, rescheduled or deleted (``space_go_live`` decides under the lock)."""
    try:
        return space_go_live(space=space_id, expected_scheduled_for=armed_for)
    except Space.DoesNotExist:
        return None
    except OneLiveSpace:
        # The host is live in another Space right now: this one waits; past the late limit it is missed.
        return None


def space_mark_missed(*, space_id: int, now: datetime | None = None) -> Space | None:
    """A scheduled Space whose start was missed by more than the late limit (workers were down):
    mark it missed so nothing stays scheduled in the past. Locks the Space. Publishes
    ``space.missed``; fires ``space_missed``. A Space not (or no longer) overdue is left alone."""
    now = now or timezone.now()
    with transaction.atomic():
        space = lock_space(space_id)
        if space.state != State.SCHEDULED or now - space.scheduled_for <= settings.SPACES_START_LATE_LIMIT:
            return None
        space.state = State.MISSED
        space.save(update_fields=["state", "updated_at"])
        events.publish_on_commit(space, events.space_missed(space))
        signals.space_missed.send(sender=Space, space=space)
    return space


def spaces_abandoned_end(*, now: datetime | None = None) -> list[Space]:
    """End live Spaces nobody is running any more.

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
    "never came" is told apart from "came and left". Ends with the reason ``abandoned`` or
    ``host_never_came`` (``space_end`` publishes and fires ``space_ended``)."""
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
        return space_end(space=space, actor=None, reason="host_never_came" if never_came else "abandoned", limit=limit)
