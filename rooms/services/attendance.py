"""Who is in a live Space: joining, leaving, and presence that expires when sockets are gone."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from spaces.metrics import JOINS

from .. import batches, events, presence
from ..errors import InvalidInput, NotLive, Removed
from ..identity import Visitor
from ..models import Participant, Space
from ..selectors import presence_counts
from .locks import lock_participant, lock_space
from .stage import not_live_detail, step_off_stage

Role = Participant.Role
State = Space.State


def space_join(*, space: Space, visitor: Visitor, quiet: bool = False) -> Participant:
    """Become present in a live Space: a signed-in visitor, or a signed-out listener known by
    their session's listener id. Joining again while present changes nothing (but the quiet flag).

    Locks the Space. Refuses a blocked person (``Removed``). Publishes ``participant.joined``
    (unless they listen quietly) and ``listeners.count``, or folds them into a big room's batch.
    """
    if not visitor.known:
        raise InvalidInput("A signed-out listener needs a session.", code="no_session")
    if quiet and not visitor.signed_in:
        raise InvalidInput("Sign in to listen quietly.", code="quiet_needs_account")
    with transaction.atomic():
        space = lock_space(space)
        if space.state != State.LIVE:
            raise NotLive(not_live_detail(space))
        lookup = {"user": visitor.user} if visitor.signed_in else {"user": None, "anon_id": visitor.anon_id}
        participant = Participant.objects.select_for_update().filter(space=space, **lookup).first()
        if participant and participant.blocked:
            raise Removed()
        if participant and participant.is_present:
            if participant.quiet != bool(quiet) and participant.role == Role.LISTENER:
                participant.quiet = bool(quiet)
                participant.save(update_fields=["quiet"])
                # Others stop naming someone who turned quiet, and start naming someone who stopped.
                event = events.participant_left if participant.quiet else events.participant_joined
                events.publish_on_commit(space, event(participant))
            return participant
        if participant is None:
            participant = Participant(
                space=space,
                user=visitor.account,
                anon_id="" if visitor.signed_in else visitor.anon_id,
                display_name=visitor.name,
            )
        participant.left_at = None
        participant.removed_at = None
        participant.quiet = bool(quiet) and participant.role == Role.LISTENER
        participant.save()
        _announce_presence(space, participant, joined=True)
        transaction.on_commit(JOINS.inc)
    return participant


def space_leave(*, space: Space, participant: Participant) -> Participant:
    """Leave a Space. A speaker gives their seat back; host and co-hosts keep their role.

    Publishes ``participant.left`` and ``listeners.count``.
    """
    with transaction.atomic():
        space = lock_space(space)
        participant = lock_participant(participant)
        if not participant.is_present:
            return participant
        participant.left_at = timezone.now()
        participant.hand_raised_at = None
        changed = ["left_at", "hand_raised_at"]
        if participant.role == Role.SPEAKER:
            changed += step_off_stage(space, participant)
        participant.save(update_fields=sorted(set(changed)))
        if space.state == State.LIVE:
            _announce_presence(space, participant, joined=False)
    return participant


def _announce_presence(space: Space, participant: Participant, *, joined: bool) -> None:
    """Announce a join or leave; in a big room, fold it into the next once-a-second batch."""
    present, count = presence_counts(space=space)
    if count > space.peak_listeners:
        space.peak_listeners = count
        space.save(update_fields=["peak_listeners"])
    if present > settings.SPACES_BIG_ROOM:
        uid = None if participant.quiet else participant.uid
        space_id = space.pk
        transaction.on_commit(lambda: batches.coalesce(space_id, joined, uid))
        return
    if not participant.quiet:
        event = events.participant_joined if joined else events.participant_left
        events.publish_on_commit(space, event(participant))
    events.publish_on_commit(space, events.listeners_count(count))


def space_presence_expire(*, space_id: int) -> list[Participant]:
    """Make everyone whose last websocket has expired leave (``space_leave``, which publishes).

    Called by the process where a socket closed, once the grace has passed, and by the periodic
    sweep for sockets whose process died. The connection check is repeated under the Space's lock:
    a person reconnecting concurrently either is seen here, or rejoins after this commits.
    """
    gone = presence.expire(space_id)
    if not gone:
        return []
    left = []
    for participant in Participant.objects.filter(pk__in=gone, space_id=space_id, left_at__isnull=True):
        with transaction.atomic():
            space = lock_space(participant.space_id)
            if participant.pk in presence.connected_participants(space_id):
                continue
            left.append(space_leave(space=space, participant=participant))
    return left


def presence_sweep() -> int:
    """Expire presence in every Space with connections, and flush the join/leave batches of big
    rooms whose flushing process died; returns how many people left."""
    left = sum(len(space_presence_expire(space_id=space_id)) for space_id in presence.spaces_with_connections())
    batches.flush_stale_batches()
    return left
