"""Who is in a live Space: joining, leaving, and presence that expires when sockets are gone."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from spaces.metrics import JOINS

from .. import batches, events, guests, presence, throttles
from ..errors import InvalidInput, NotLive, Removed, Throttled, TooManySockets
from ..identity import Visitor
from ..models import Participant, Space
from ..selectors import guest_wire, presence_counts
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
    """Become present in a live Space: a signed-in visitor (a row; joining again while present
    changes nothing but the quiet flag), or a signed-out listener known by their session's
    listener id, who joins the audio without a database write (``guest_listen``).

    ``client``: the caller's address, for the per-client join throttle and for blocks of
    signed-out listeners (a blocked one's address stays out of the Space for signed-out joins).
    ``lease``: a join without a websocket (the API): a signed-out listener with no socket open is
    present for ``SPACES_API_PRESENCE_TTL``, renewed by joining again, then leaves.

    Locks the Space for a signed-in visitor. Refuses a blocked person (``Removed``). Publishes
    ``participant.joined`` (unless they listen quietly) and ``listeners.count``, or folds them
    into a big room's batch.
    """
    if not visitor.known:
        raise InvalidInput(
            "A signed-out listener needs a session: open the Space's share page first.", code="no_session"
        )
    if quiet and not visitor.signed_in:
        raise InvalidInput("Sign in to listen quietly.", code="quiet_needs_account")
    if client:
        join_throttle(client=client)
    if not visitor.signed_in:
        # A signed-out listener lives in Redis, not in the database (rooms.guests).
        guest = guests.Guest(uid=guests.guest_uid(space.pk, visitor.anon_id), name=visitor.name, anon_id=visitor.anon_id, address=client)
        return guest_listen(space=space, guest=guest, lease=lease)
    with transaction.atomic():
        space = lock_space(space)
        if space.state != State.LIVE:
            raise NotLive(not_live_detail(space))
        participant = Participant.objects.select_for_update().filter(space=space, user=visitor.user).first()
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
            participant = Participant(space=space, user=visitor.account, display_name=visitor.name)
        participant.left_at = None
        participant.removed_at = None
        participant.quiet = bool(quiet) and participant.role == Role.LISTENER
        participant.save()
        _announce_presence(space, participant, joined=True)
        if participant.role == Role.LISTENER:
            space_id, participant_id = space.pk, participant.pk
            transaction.on_commit(lambda: presence.listener_seen(space_id, participant_id))
        transaction.on_commit(JOINS.inc)
    return participant


# --- signed-out listeners: in Redis only (rooms.guests) ------------------------------------------

BLOCKED_ADDRESS = "A signed-out listener from your address was blocked from this Space; sign in to join it."

SOCKETS_FULL = "You have {n} connections to this Space open already; close one (another tab or device) and try again."


def guest_arrive(*, space: Space, guest: guests.Guest, connection_id: str) -> None:
    """A signed-out listener's socket arrives: they watch the Space, and this socket keeps them
    present (it is not listening: that is ``guest_listen``). One Redis round trip, no database.
    Raises ``Removed`` (blocked), ``Throttled`` (joins of their address), ``TooManySockets``."""
    outcome, wait, _ = guests.arrive(space.pk, guest, connection_id, join_limit=throttles.joins_per_client())
    _arrival_refused(outcome, wait)


async def aguest_arrive(*, space: Space, guest: guests.Guest, connection_id: str) -> guests.Guest | None:
    """``guest_arrive`` from the websocket's event loop (no thread hop for a crowd's arrivals).
    Returns what is kept of them if they listen already (a reconnect), else None."""
    outcome, wait, found = await guests.aarrive(space.pk, guest, connection_id, join_limit=throttles.joins_per_client())
    _arrival_refused(outcome, wait)
    return found


def _arrival_refused(outcome: int, wait: float) -> None:
    if outcome == guests.BLOCKED:
        raise Removed(BLOCKED_ADDRESS)
    if outcome == guests.THROTTLED:
        raise Throttled(
            f"Too many joins from your address; at most {settings.SPACES_JOINS_PER_CLIENT} a minute.",
            retry_after=throttles.retry_after(wait),
        )
    if outcome == guests.TOO_MANY_SOCKETS:
        raise TooManySockets(SOCKETS_FULL.format(n=settings.SPACES_SOCKETS_PER_PERSON))


def guest_listen(*, space: Space, guest: guests.Guest, lease: bool = False) -> Participant:
    """A signed-out listener joins the audio: counted, named in the next ``participant.batch``
    (once a second, one seq for every join of that second), among the different listeners.
    Without a socket open (``lease``, the API) they are present for ``SPACES_API_PRESENCE_TTL``.
    Idempotent. Returns them in a participant's shape (an unsaved row). Raises ``NotLive``,
    ``Removed``."""
    if space.state != State.LIVE:
        raise NotLive(not_live_detail(space))
    ttl = settings.SPACES_API_PRESENCE_TTL.total_seconds() if lease else 0.0
    try:
        added, armed = guests.listen(space.pk, guest, batch=batches.batch_keys(space.pk), lease=ttl)
    except guests.Blocked:
        raise Removed(BLOCKED_ADDRESS)
    if armed:
        batches.arm(space.pk)
    if added:
        JOINS.inc()
    participant = guest_wire(guest)
    participant.space = space
    return participant


async def aguest_listen(*, space: Space, guest: guests.Guest) -> None:
    """``guest_listen`` from the websocket's event loop (its ``listening`` frame): no lease,
    since the socket keeps them present. Raises ``NotLive``, ``Removed``."""
    if space.state != State.LIVE:
        raise NotLive(not_live_detail(space))
    try:
        added, armed = await guests.alisten(space.pk, guest, batch=batches.batch_keys(space.pk))
    except guests.Blocked:
        raise Removed(BLOCKED_ADDRESS)
    if armed:
        batches.arm(space.pk)
    if added:
        JOINS.inc()


def guest_leave(*, space_id: int, uid: str) -> bool:
    """A signed-out listener stops listening (left, or their last socket expired): announced in
    the next batch. True if they were listening."""
    removed, armed = guests.leave(space_id, uid, batch=batches.batch_keys(space_id))
    if armed:
        batches.arm(space_id)
    return removed


def space_listener_totals(space: Space) -> list[str]:
    """Write the Space's different listeners, counted in Redis while it was live, and its peak
    (kept by each batch; the last second's here) onto the row (locked by the caller, which ends
    the Space); returns the fields to save."""
    try:
        space.unique_listeners = max(space.unique_listeners, presence.unique_listeners(space.pk))
        rows = Participant.objects.present().filter(space=space, role=Role.LISTENER).count()
        space.peak_listeners = max(space.peak_listeners, rows + guests.count(space.pk))
    except (RedisError, OSError):
        return []  # Redis is down: the Space still ends; the figures are left as they were
    return ["unique_listeners", "peak_listeners"]


def space_leave(*, space: Space, participant: Participant) -> Participant:
    """Leave a Space. A speaker gives their seat back; host and co-hosts keep their role.

    Publishes ``participant.left`` and ``listeners.count`` (a signed-out listener's leave goes
    into the next batch).
    """
    if participant.pk is None:
        guest_leave(space_id=space.pk, uid=participant.uid)
        participant.left_at = timezone.now()
        return participant
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
    for uid in filter(None, map(guests.uid_of_key, gone)):
        guest_leave(space_id=space_id, uid=uid)
    rows = {int(key) for key in gone if key.isdigit()}
    if not rows:
        return []
    left = []
    for participant in Participant.objects.filter(pk__in=rows, space_id=space_id, left_at__isnull=True):
        with transaction.atomic():
            space = lock_space(participant.space_id)
            if participant.pk in presence.connected_participants(space_id):
                continue
            left.append(space_leave(space=space, participant=participant))
    return left


def guests_blocked_restore() -> None:
    """Put the blocked signed-out listeners of live Spaces back into Redis (which keeps them out
    without a database read), in case a Redis restart lost them."""
    blocked = Participant.objects.filter(space__state=State.LIVE, user=None, blocked=True)
    by_space: dict[int, list[tuple[str, str]]] = {}
    for space_id, anon_id, address in blocked.values_list("space_id", "anon_id", "address"):
        by_space.setdefault(space_id, []).append((anon_id, address or ""))
    for space_id, people in by_space.items():
        guests.blocked_restore(space_id, people)


def presence_sweep() -> int:
    """Expire presence in every Space with connections, put blocked signed-out listeners back
    into Redis, and flush the join/leave batches whose flushing process died; returns how many
    people (with a row) left."""
    left = sum(len(space_presence_expire(space_id=space_id)) for space_id in presence.spaces_with_connections())
    guests_blocked_restore()
    batches.flush_stale_batches()
    return left
