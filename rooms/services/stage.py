"""The stage: requests to speak, and what the host and co-hosts do to people in a live Space
(invite to speak and move back, appoint and revoke co-hosts, mute, remove and block).

Every control opens the same way (``_control``): the Space locked, the actor's seat, the target
locked, the Space live and the target not removed, then ``rooms.permissions.check`` for the
action, the rule the room page's menus are computed from too. Limits that need counting (the
stage, the co-hosts) are counted under the Space's lock, so concurrent promotions cannot overshoot.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import events, guests, permissions
from ..errors import CohostLimit, Conflict, InvalidInput, NotLive, NotPermitted, SpeakerLimit
from ..models import Participant, Space
from ..permissions import Seat
from ..selectors import listener_count
from . import media
from .access import require_room_staff
from .locks import lock_participant, lock_space

Role = Participant.Role
State = Space.State


def not_live_detail(space: Space) -> str:
    if space.state == State.SCHEDULED:
        return "This Space has not started yet."
    return f"This Space is {space.get_state_display().lower()}."


def step_off_stage(space: Space, participant: Participant) -> list[str]:
    """Make someone a listener again: their media seat is revoked after commit and what belonged
    to the seat is cleared. Returns the fields changed, for the caller's save."""
    if participant.is_speaking_role:
        media.speaker_revoke_on_commit(space, participant)
    participant.role = Role.LISTENER
    participant.hand_raised_at = None
    participant.muted = participant.self_muted = False
    return ["role", "hand_raised_at", "muted", "self_muted", *media.clear_seat(participant)]


# --- requests to speak -------------------------------------------------------------------------


def hand_raise(*, space: Space, participant: Participant) -> Participant:
    """A signed-in listener asks to speak. Publishes ``hand.raised`` to host and co-hosts."""
    return _set_hand(space=space, participant=participant, raised=True)


def hand_lower(*, space: Space, participant: Participant) -> Participant:
    """Withdraw a request to speak. Publishes ``hand.lowered`` to host and co-hosts."""
    return _set_hand(space=space, participant=participant, raised=False)


def _set_hand(*, space: Space, participant: Participant, raised: bool) -> Participant:
    with transaction.atomic():
        space = lock_space(space)
        participant = lock_participant(participant)
        if space.state != State.LIVE:
            raise NotLive(not_live_detail(space))
        if not participant.is_present:
            raise Conflict("Join the Space first.", code="not_present")
        if participant.user_id is None:
            raise NotPermitted("Sign in to request to speak.", code="sign_in_to_speak")
        if raised and participant.role != Role.LISTENER:
            raise Conflict("You are already on the stage.", code="already_speaking")
        if (participant.hand_raised_at is not None) == raised:
            return participant
        participant.hand_raised_at = timezone.now() if raised else None
        participant.save(update_fields=["hand_raised_at"])
        event = events.hand_raised(participant) if raised else events.hand_lowered(participant)
        events.publish_on_commit(space, event)
    return participant


# --- host and co-host controls -----------------------------------------------------------------


def _control(space: Space, actor, participant: Participant) -> tuple[Space, Participant, Participant]:
    """Open a control: lock the Space, find the actor's staff seat, lock the target, and check the
    Space is live and the target still in it. Returns ``(space, actor's seat, target)``."""
    space = lock_space(space)
    actor_p = require_room_staff(space, actor)
    participant = lock_participant(participant)
    if participant.space_id != space.pk:
        raise InvalidInput("That participant is not in this Space.", code="participant_not_found")
    if space.state != State.LIVE:
        raise NotLive(not_live_detail(space))
    if participant.removed_at is not None:
        raise Conflict(f"{participant.display_name} was removed from this Space.", code="removed")
    return space, actor_p, participant


def participant_set_role(*, space: Space, actor, participant: Participant, role: str) -> Participant:
    """Invite a listener to speak or move a speaker back (host or co-host), appoint or revoke a
    co-host (host only), or decline a raised hand (``role="listener"`` on a listener).

    Locks the Space, then counts speaking roles (host + co-hosts + speakers, at most
    SPACES_MAX_SPEAKERS) and co-hosts (at most SPACES_MAX_COHOSTS) under that lock. A promotion
    issues a fresh media token and grants it after commit; a demotion revokes it.
    Publishes ``participant.role_changed`` (with the listener count), or ``hand.lowered`` for a
    decline.
    """
    if role not in (Role.COHOST, Role.SPEAKER, Role.LISTENER):
        raise InvalidInput("Role must be one of: cohost, speaker, listener.", code="invalid_role")
    with transaction.atomic():
        space, actor_p, participant = _control(space, actor, participant)
        action = permissions.role_change_action(participant.role, role)
        if action is None:
            # Already there: nothing to do, if it was theirs to ask.
            if Role.COHOST in (role, participant.role) and actor_p.role != Role.HOST:
                raise NotPermitted("Only the host appoints and revokes co-hosts.", code="host_only")
            if participant.role == Role.HOST:
                raise NotPermitted("The host cannot be moved off the host's seat.", code="host_role_fixed")
            return participant
        permissions.check(action, actor=Seat.of(actor_p), target=Seat.of(participant))
        if action == permissions.DECLINE:
            if participant.hand_raised_at is not None:
                participant.hand_raised_at = None
                participant.save(update_fields=["hand_raised_at"])
                events.publish_on_commit(space, events.hand_lowered(participant))
            return participant
        if role != Role.LISTENER and not participant.is_present:
            raise Conflict(f"{participant.display_name} is not in the Space right now.", code="not_present")
        _check_seats(space, participant, role)
        previous = participant.role
        if role == Role.LISTENER:
            changed = step_off_stage(space, participant)
        else:
            changed = ["role", "hand_raised_at", "quiet"]
            participant.role, participant.hand_raised_at, participant.quiet = role, None, False
            if previous == Role.LISTENER:
                changed += media.seat_on_stage(participant)
                media.stage_changed_on_commit(space)
        participant.save(update_fields=changed)
        events.publish_on_commit(
            space,
            events.participant_role_changed(participant, previous_role=previous, count=listener_count(space=space)),
        )
    return participant


def _check_seats(space: Space, participant: Participant, role: str) -> None:
    seats = space.participants.filter(removed_at__isnull=True)
    if role == Role.COHOST and seats.filter(role=Role.COHOST).count() >= settings.SPACES_MAX_COHOSTS:
        raise CohostLimit(
            f"This Space already has {settings.SPACES_MAX_COHOSTS} co-hosts, the most allowed. Revoke one first."
        )
    if role != Role.LISTENER and participant.role == Role.LISTENER:
        if seats.filter(role__in=Participant.SPEAKING_ROLES).count() >= settings.SPACES_MAX_SPEAKERS:
            raise SpeakerLimit(
                f"The stage is full: {settings.SPACES_MAX_SPEAKERS} people can speak at once, "
                "host and co-hosts included. Move someone off the stage first."
            )


def participant_set_muted(*, space: Space, actor, participant: Participant, muted: bool) -> Participant:
    """Mute or unmute someone on the stage, in the room and in the media server's mix. Host and
    co-hosts; a co-host cannot mute the host or another co-host. Publishes ``participant.muted``.
    """
    if not isinstance(muted, bool):
        raise InvalidInput("muted must be true or false.", code="invalid_muted")
    with transaction.atomic():
        space, actor_p, participant = _control(space, actor, participant)
        permissions.check(permissions.MUTE, actor=Seat.of(actor_p), target=Seat.of(participant))
        if participant.muted == muted:
            return participant
        participant.muted = muted
        participant.save(update_fields=["muted"])
        media.speaker_mute_on_commit(space, participant)
        events.publish_on_commit(space, events.participant_muted(participant))
    return participant


def stage_mute_all(*, space: Space, actor) -> list[Participant]:
    """Mute everyone on the stage but the actor at once (host or co-host; a co-host skips the host
    and other co-hosts, as with one mute). One transaction: all are muted or none; a
    ``participant.muted`` for each after commit, and one media sync that mutes them in the mix
    (the same path as a single mute). Returns those it muted."""
    with transaction.atomic():
        space = lock_space(space)
        actor_p = require_room_staff(space, actor)
        if space.state != State.LIVE:
            raise NotLive(not_live_detail(space))
        actor_seat = Seat.of(actor_p)
        on_stage = space.participants.on_stage().exclude(pk=actor_p.pk).select_for_update().order_by("pk")
        muted = [
            person
            for person in on_stage
            if not person.muted and permissions.allowed(permissions.MUTE, actor=actor_seat, target=Seat.of(person))
        ]
        for person in muted:
            person.muted = True
            person.save(update_fields=["muted"])
            events.publish_on_commit(space, events.participant_muted(person))
        if muted:
            media.stage_changed_on_commit(space)
    return muted


def mic_set_self_muted(*, space: Space, participant: Participant, muted: bool) -> Participant:
    """A speaker mutes or unmutes their own microphone, so that everyone sees it. The browser
    mutes itself in the mix; the media sync never unmutes anyone, so it does not undo this. A
    speaker the host muted stays muted in the mix whatever this says (``muted`` is the host's).
    Publishes ``participant.self_muted``."""
    if not isinstance(muted, bool):
        raise InvalidInput("muted must be true or false.", code="invalid_muted")
    with transaction.atomic():
        space = lock_space(space)
        participant = lock_participant(participant)
        if space.state != State.LIVE:
            raise NotLive(not_live_detail(space))
        if not participant.is_present or participant.removed_at is not None:
            raise Conflict("Join the Space first.", code="not_present")
        if not participant.is_speaking_role:
            raise Conflict("Only people on the stage have a microphone here.", code="not_speaking")
        if participant.self_muted == muted:
            return participant
        participant.self_muted = muted
        participant.save(update_fields=["self_muted"])
        events.publish_on_commit(space, events.participant_self_muted(participant))
    return participant


def participant_remove(*, space: Space, actor, participant: Participant, block: bool = False) -> Participant:
    """Remove someone from a live Space; with ``block`` they cannot come back (by account, or by
    session for a signed-out listener). Host and co-hosts; nobody removes the host, and co-hosts
    cannot remove each other. Publishes ``participant.removed`` (with the listener count).
    """
    if not isinstance(block, bool):
        raise InvalidInput("block must be true or false.", code="invalid_block")
    with transaction.atomic():
        space, actor_p, participant = _control(space, actor, participant)
        action = permissions.BLOCK if block else permissions.REMOVE
        permissions.check(action, actor=Seat.of(actor_p), target=Seat.of(participant))
        now = timezone.now()
        changed = step_off_stage(space, participant)
        media.listener_revoke_on_commit(space, participant)
        participant.removed_at = now
        participant.left_at = participant.left_at or now
        participant.blocked = block
        participant.save(update_fields=[*changed, "removed_at", "left_at", "blocked"])
        if participant.user_id is None:
            # A signed-out listener stops being counted in Redis (before the count below), and a
            # blocked one stays out, by listener id and address, without a database read.
            guests.removed(space.pk, participant.uid, participant.anon_id, participant.address or "", blocked=block)
        events.publish_on_commit(
            space, events.participant_removed(participant, blocked=block, count=listener_count(space=space))
        )
    return participant


def participant_update(
    *, space: Space, actor, participant: Participant, role: str | None = None, muted: bool | None = None
) -> Participant:
    """Change a participant's role and mute in one go (the API's PATCH): both land or neither."""
    with transaction.atomic():
        if role is not None:
            participant = participant_set_role(space=space, actor=actor, participant=participant, role=role)
        if muted is not None:
            participant = participant_set_muted(space=space, actor=actor, participant=participant, muted=muted)
    return participant
