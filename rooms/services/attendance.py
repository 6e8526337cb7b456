"""Who is in a live Space: joining, leaving, and presence that expires when sockets are gone."""

import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from spaces.metrics import JOINS

from .. import batches, events, presence, throttles
from ..errors import InvalidInput, NotLive, Removed, Throttled
from ..identity import Visitor
from ..models import Participant, Space
from ..selectors import presence_counts
from .locks import lock_participant, lock_space
from .stage import not_live_detail, step_off_stage

Role = Participant.Role
State = Space.State


def join_throttle(*, client: str) -> None:
    """Count one join (a websocket arrival or an API join) from a client address; more than
    ``SPACES_JOINS_PER_CLIENT`` a minute is refused (``Throttled``, with when to try again)."""
    wait = throttles.hit(throttles.joins_per_client(), client)
    if wait:
        raise Throttled(
            f"Too many joins from your address; at most {settings.SPACES_JOINS_PER_CLIENT} a minute.",
            retry_after=throttles.retry_after(wait),
        )


def space_join(
    *, space: Space, visitor: Visitor, quiet: bool = False, client: str = "", lease: bool = False
) -> Participant:
    """Become present in a live Space: a signed-in visitor, or a signed-out listener known by
    their session's listener id. Joining again while present changes nothing (but the quiet flag).

    ``client``: the caller's address, for the per-client join throttle and for blocks of
    signed-out listeners (a blocked one's address stays out of the Space for signed-out joins).
    ``lease``: a join without a websocket (the API): a signed-out listener with no socket open is
    present for ``SPACES_API_PRESENCE_TTL``, renewed by joining again, then leaves.

    Locks the Space. Refuses a blocked person (``Removed``). Publishes ``participant.joined``
    (unless they listen quietly) and ``listeners.count``, or folds them into a big room's batch.
    """
    if not visitor.known:
        raise InvalidInput(
            "A signed-out listener needs a session: open the Space's share page first.", code="no_session"
        )
    if quiet and not visitor.signed_in:
        raise InvalidInput("Sign in to listen quietly.", code="quiet_needs_account")
    if client:
        join_throttle(client=client)
    with transaction.atomic():
        space = lock_space(space)
        if space.state != State.LIVE:
            raise NotLive(not_live_detail(space))
        lookup = {"user": visitor.user} if visitor.signed_in else {"user": None, "anon_id": visitor.anon_id}
        participant = Participant.objects.select_for_update().filter(space=space, **lookup).first()
        if participant and participant.blocked:
            raise Removed()
        if not visitor.signed_in and client and _address_blocked(space, client):
            raise Removed(BLOCKED_ADDRESS)
        if lease and not visitor.signed_in:
            _lease_on_commit(space, participant, lookup)
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
        if not visitor.signed_in and client:
            participant.address = client
        participant.save()
        _announce_presence(space, participant, joined=True)
        if participant.role == Role.LISTENER:
            space_id, participant_id = space.pk, participant.pk
            transaction.on_commit(lambda: presence.listener_seen(space_id, participant_id))
        transaction.on_commit(JOINS.inc)
    return participant


BLOCKED_ADDRESS = (
    "A signed-out listener from your address was blocked from this Space; sign in to join it."
)


def _address_blocked(space: Space, client: str) -> bool:
    return Participant.objects.filter(space=space, user=None, blocked=True, address=client).exists()


def _lease_on_commit(space: Space, participant: Participant | None, lookup: dict) -> None:
    """After commit, give a signed-out API join its expiring presence, unless a socket of theirs
    already keeps them present (the share page's Listen button joins through the API too)."""
    space_id, seconds = space.pk, settings.SPACES_API_PRESENCE_TTL.total_seconds()

    def lease() -> None:
        participant_id = participant.pk if participant else Participant.objects.get(space_id=space_id, **lookup).pk
        if not presence.open_sockets(space_id, participant_id):
            presence.lease(space_id, participant_id, seconds)

    transaction.on_commit(lease)


def space_listener_totals(space: Space) -> list[str]:
    """Write the Space's different listeners, counted in Redis while it was live, onto the row
    (locked by the caller, which ends the Space); returns the fields to save."""
    try:
        space.unique_listeners = max(space.unique_listeners, presence.unique_listeners(space.pk))
    except (RedisError, OSError):
        return []  # Redis is down: the Space still ends; the figure is left as it was
    return ["unique_listeners"]


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


def presence_reconcile(*, now: float | None = None) -> list[Participant]:
    """Make leave the signed-out listeners whom the database counts present but Redis holds no
    socket or lease for, in two sweeps running (``presence.missing_confirmed``): what a Redis that
    restarted empty lost (an API join's lease, a socket closed by a process that died meanwhile).

    Waits until Redis has kept presence for ``CONNECTED_TTL`` (every relay has re-added its
    sockets by then). Signed-in people are left alone: one who joined through the API stays until
    they leave. Each is checked again under the Space's lock, as in ``space_presence_expire``.
    """
    now = time.time() if now is None else now
    if now - presence.tracked_since() < presence.CONNECTED_TTL:
        return []
    left = []
    for space_id in Space.objects.filter(state=State.LIVE).values_list("pk", flat=True):
        counted = set(Participant.objects.present().filter(space_id=space_id, user=None).values_list("pk", flat=True))
        missing = counted - presence.connected_participants(space_id)
        for participant_id in presence.missing_confirmed(space_id, missing, now=now, after=presence.HEARTBEAT):
            with transaction.atomic():
                space = lock_space(space_id)
                if participant_id in presence.connected_participants(space_id):
                    continue
                participant = Participant.objects.get(pk=participant_id)
                left.append(space_leave(space=space, participant=participant))
    return left


def presence_sweep() -> int:
    """Expire presence in every Space with connections, reconcile the database's presence with
    Redis's, and flush the join/leave batches of big rooms whose flushing process died; returns
    how many people left."""
    left = sum(len(space_presence_expire(space_id=space_id)) for space_id in presence.spaces_with_connections())
    left += len(presence_reconcile())
    batches.flush_stale_batches()
    return left
