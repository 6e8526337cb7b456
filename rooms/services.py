"""Writes to Spaces and participants. Every change in the product goes through one function here
(or in ``scheduling.services``): it locks what it must, checks who is asking and the rules, writes
in a transaction and publishes its event on commit.

Lock order, to keep concurrent services free of deadlocks: the Space row first, then participant
rows.
"""

import logging
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import events, media, presence
from .errors import (
    CohostLimit,
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotLive,
    NotPermitted,
    OneLiveSpace,
    Removed,
    SpeakerLimit,
)
from .models import Participant, Space
from .selectors import listener_count, participant_as_dict, presence_counts, space_as_dict

logger = logging.getLogger(__name__)

Role = Participant.Role
State = Space.State

TITLE_MAX = Space._meta.get_field("title").max_length
DESCRIPTION_MAX = Space._meta.get_field("description").max_length


def lock_space(space: Space | int) -> Space:
    """Re-read the Space under a row lock (``SELECT ... FOR UPDATE``) for the current transaction."""
    pk = space.pk if isinstance(space, Space) else space
    return Space.objects.select_for_update(of=("self",)).select_related("host").get(pk=pk)


def lock_participant(participant: Participant) -> Participant:
    return Participant.objects.select_for_update(of=("self",)).select_related("user").get(pk=participant.pk)


def clean_title(title) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("Give the Space a title.", code="title_required")
    title = title.strip()
    if len(title) > TITLE_MAX:
        raise InvalidInput(
            f"Keep the title to {TITLE_MAX} characters (this one has {len(title)}).",
            code="title_too_long",
        )
    return title


def clean_description(description) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise InvalidInput("The description must be text.", code="description_invalid")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput(
            f"Keep the description to {DESCRIPTION_MAX} characters (this one has {len(description)}).",
            code="description_too_long",
        )
    return description


def is_host_or_staff(actor, space: Space) -> bool:
    return bool(actor and actor.is_authenticated and (actor.pk == space.host_id or actor.is_staff))


def require_host_or_staff(actor, space: Space, what: str) -> None:
    if not is_host_or_staff(actor, space):
        raise NotPermitted(f"Only the host can {what}.")


def new_media_token() -> str:
    return secrets.token_urlsafe(24)


# --- Lifecycle -------------------------------------------------------------------------------


def space_start_now(
    *, host: AbstractBaseUser, title: str, description: str = "", record: bool = False
) -> Space:
    """Create a Space that is live at once, with ``host`` on its stage.

    Publishes ``space.started``. Raises ``OneLiveSpace`` if the host already has a live Space.
    """
    title, description = clean_title(title), clean_description(description)
    with transaction.atomic():
        existing = Space.objects.filter(host=host, state=State.LIVE).first()
        if existing:
            raise _one_live_space(existing)
        now = timezone.now()
        try:
            with transaction.atomic():
                space = Space.objects.create(
                    host=host,
                    title=title,
                    description=description,
                    record=bool(record),
                    state=State.LIVE,
                    started_at=now,
                    started_by=Space.StartedBy.HOST,
                )
        except IntegrityError:
            # A concurrent request won the one-live-Space race.
            raise _one_live_space(Space.objects.filter(host=host, state=State.LIVE).first())
        _seat_host(space)
        _media_room_open_on_commit(space)
        events.publish_on_commit(space, "space.started", space_as_dict(space))
    return space


def space_go_live(
    *,
    space: Space | int,
    actor=None,
    expected_scheduled_for=None,
) -> Space | None:
    """Turn a scheduled Space live: by its host or staff ("start now"), or by the scheduler
    (``actor=None``) for the ``scheduled_for`` it was armed with.

    Locks the Space. For the scheduler this is idempotent: a Space that is no longer scheduled,
    or was rescheduled since it was armed, is left alone and ``None`` is returned.
    Publishes ``space.started``.
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
        # Started by the schedule, the host is seated but not here until they connect.
        _seat_host(space, absent_since=space.started_at if actor is None else None)
        _media_room_open_on_commit(space)
        events.publish_on_commit(space, "space.started", space_as_dict(space))
        # People with reminders (and the host, when the schedule started it) are told after commit.
        from scheduling.services import space_started_notify_on_commit

        space_started_notify_on_commit(space)
    return space


def space_update(*, space: Space, actor, title: str | None = None, description: str | None = None) -> Space:
    """Edit the title or description of a scheduled or live Space. Host or staff only.

    Publishes ``space.updated`` when something changed.
    """
    with transaction.atomic():
        space = lock_space(space)
        require_host_or_staff(actor, space, "edit this Space")
        if space.state not in (State.SCHEDULED, State.LIVE):
            raise InvalidTransition(
                f"This Space is {space.get_state_display().lower()} and can no longer be edited."
            )
        changed = []
        if title is not None and clean_title(title) != space.title:
            space.title = clean_title(title)
            changed.append("title")
        if description is not None and clean_description(description) != space.description:
            space.description = clean_description(description)
            changed.append("description")
        if changed:
            space.save(update_fields=[*changed, "updated_at"])
            events.publish_on_commit(space, "space.updated", space_as_dict(space))
    return space


def space_end(*, space: Space | int, actor=None, reason: str = "host") -> Space:
    """End a live Space: by its host or staff, or by the system (``actor=None``, e.g. abandoned).

    Locks the Space; everyone still present leaves with it. Publishes ``space.ended``.
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
        space.save(update_fields=["state", "ended_at", "updated_at"])
        space.participants.filter(left_at__isnull=True).update(left_at=now, hand_raised_at=None)
        events.publish_on_commit(space, "space.ended", space_as_dict(space) | {"reason": reason})
        transaction.on_commit(lambda: presence.forget_space(space.pk))
        if space.media_room_id:
            transaction.on_commit(lambda: media_room_close(space_id=space.pk))
    return space


def _seat_host(space: Space, *, absent_since=None) -> Participant:
    host = space.host
    participant, _ = Participant.objects.update_or_create(
        space=space,
        user=host,
        defaults={
            "role": Role.HOST,
            "display_name": host.get_username(),
            "media_token": new_media_token(),
            "left_at": absent_since,
        },
    )
    return participant


def _media_room_open_on_commit(space: Space) -> None:
    """Give the Space its media room id now; create the room in Janus once this commits."""
    space.media_room_id = space.pk
    space.save(update_fields=["media_room_id"])
    transaction.on_commit(lambda: media_room_open(space_id=space.pk))


def _media_speaker_revoke_on_commit(space: Space, participant: Participant) -> None:
    room_id, token, participant_id = space.media_room_id, participant.media_token, participant.pk
    if room_id:
        transaction.on_commit(
            lambda: media.safely(media.speaker_revoke, room_id=room_id, token=token, participant_id=participant_id)
        )


def media_room_open(*, space_id: int) -> bool:
    """Create (or complete) a live Space's media room, with everyone on stage allowed in."""
    space = Space.objects.get(pk=space_id)
    if space.state != State.LIVE or not space.media_room_id:
        return False
    tokens = list(
        space.participants.filter(role__in=Participant.SPEAKING_ROLES, removed_at__isnull=True)
        .exclude(media_token="")
        .values_list("media_token", flat=True)
    )
    record_file = None
    if space.record:
        recording_path(space).parent.mkdir(parents=True, exist_ok=True)
        record_file = str(recording_path(space))
    return media.safely(media.room_open, room_id=space.media_room_id, allowed=tokens, record_file=record_file)


def recording_path(space: Space) -> Path:
    return Path(settings.JANUS["RECORDINGS_DIR"]) / f"space-{space.code}.wav"


def media_room_close(*, space_id: int) -> None:
    """Destroy an ended Space's media room; a recorded Space's mix then becomes its replay."""
    space = Space.objects.get(pk=space_id)
    closed = media.safely(media.room_close, room_id=space.media_room_id)
    if closed and space.record:
        space_replay_attach(space_id=space.pk)


def space_replay_attach(*, space_id: int, wait: float = 5.0) -> Space:
    """Keep the recorded mix as the Space's replay for SPACES_REPLAY_DAYS. Janus finishes the file
    when the room is destroyed, so wait a moment for it."""
    space = Space.objects.get(pk=space_id)
    path = recording_path(space)
    deadline = time.monotonic() + wait
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not path.exists():
        logger.warning("No recording found for Space %s at %s", space.code, path)
        return space
    relative = path.relative_to(Path(settings.MEDIA_ROOT)) if path.is_relative_to(settings.MEDIA_ROOT) else path.name
    Space.objects.filter(pk=space.pk).update(
        replay=str(relative), replay_expires_at=timezone.now() + settings.SPACES_REPLAY_KEEP
    )
    space.refresh_from_db()
    return space


def space_replay_delete(*, space: Space, actor) -> Space:
    """The host (or staff) deletes a replay: the file and the link. Locks the Space."""
    with transaction.atomic():
        space = lock_space(space)
        require_host_or_staff(actor, space, "delete this replay")
        if not space.replay:
            raise Conflict("This Space has no replay.", code="no_replay")
        path = Path(settings.MEDIA_ROOT) / space.replay
        space.replay, space.replay_expires_at = "", None
        space.save(update_fields=["replay", "replay_expires_at", "updated_at"])
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
    return space


def replays_expire(*, now=None) -> int:
    """Delete replays older than their keep period. Idempotent; the beat runs it daily."""
    expired = Space.objects.filter(replay_expires_at__lte=now or timezone.now()).exclude(replay="")
    count = 0
    for space in expired:
        (Path(settings.MEDIA_ROOT) / space.replay).unlink(missing_ok=True)
        count += Space.objects.filter(pk=space.pk).exclude(replay="").update(replay="", replay_expires_at=None)
    return count


def media_reconcile() -> dict:
    """Make the media server match the database: rooms for every live Space (after a Janus
    restart, say), none for Spaces that are over. Idempotent; run at start-up and periodically."""
    try:
        existing = media.rooms()
    except media.MediaError:
        return {"reachable": False}
    live = dict(Space.objects.filter(state=State.LIVE, media_room_id__isnull=False).values_list("media_room_id", "pk"))
    opened = [live[room] for room in live if room not in existing["audiobridge"] or room not in existing["streaming"]]
    for space_id in opened:
        media_room_open(space_id=space_id)
    ours = Space.objects.filter(media_room_id__in=existing["audiobridge"] | existing["streaming"]).exclude(state=State.LIVE)
    closed = list(ours.values_list("media_room_id", flat=True))
    for room_id in closed:
        media.safely(media.room_close, room_id=room_id)
    return {"reachable": True, "opened": len(opened), "closed": len(closed)}


def _one_live_space(existing: Space | None) -> OneLiveSpace:
    if existing is None:
        return OneLiveSpace("You already have a live Space. End it before starting another.")
    return OneLiveSpace(
        f"You already have a live Space, “{existing.title}”. End it before starting another.",
        space={"code": existing.code, "title": existing.title, "url": existing.share_url},
    )


# --- People in a live Space ------------------------------------------------------------------


def space_join(
    *,
    space: Space,
    user=None,
    anon_id: str = "",
    anon_label: str = "",
    quiet: bool = False,
) -> Participant:
    """Become present in a live Space: a signed-in ``user``, or a signed-out listener known by
    ``anon_id`` and shown as ``anon_label``. Joining again while present changes nothing.

    Locks the Space. Refuses a blocked person (``Removed``). Publishes ``participant.joined``
    (naming the person unless they listen quietly) and ``listeners.count``.
    """
    signed_in = user is not None and user.is_authenticated
    if not signed_in and not anon_id:
        raise InvalidInput("A signed-out listener needs a session.", code="no_session")
    if quiet and not signed_in:
        raise InvalidInput("Sign in to listen quietly.", code="quiet_needs_account")
    with transaction.atomic():
        space = lock_space(space)
        if space.state != State.LIVE:
            raise NotLive(_not_live_detail(space))
        lookup = {"user": user} if signed_in else {"user": None, "anon_id": anon_id}
        participant = Participant.objects.select_for_update().filter(space=space, **lookup).first()
        if participant and participant.blocked:
            raise Removed()
        if participant and participant.is_present:
            if participant.quiet != bool(quiet) and participant.role == Role.LISTENER:
                participant.quiet = bool(quiet)
                participant.save(update_fields=["quiet"])
            return participant
        if participant is None:
            participant = Participant(
                space=space,
                user=user if signed_in else None,
                anon_id="" if signed_in else anon_id,
                display_name=user.get_username() if signed_in else anon_label or "Listener",
            )
        participant.left_at = None
        participant.removed_at = None
        participant.quiet = bool(quiet) and participant.role == Role.LISTENER
        participant.save()
        _announce_presence(space, participant, "participant.joined")
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
        if participant.role == Role.SPEAKER:
            _media_speaker_revoke_on_commit(space, participant)
            participant.role = Role.LISTENER
            participant.media_token = ""
        participant.save(update_fields=["left_at", "hand_raised_at", "role", "media_token"])
        if space.state == State.LIVE:
            _announce_presence(space, participant, "participant.left")
    return participant


def _announce_presence(space: Space, participant: Participant, event_type: str) -> None:
    """Announce a join or leave; in a big room, fold it into the next once-a-second batch so that
    N joins cost each client O(N) frames per second, not N frames each."""
    present, count = presence_counts(space=space)
    if count > space.peak_listeners:
        space.peak_listeners = count
        space.save(update_fields=["peak_listeners"])
    if present > settings.SPACES_BIG_ROOM:
        shown = None if participant.quiet else participant_as_dict(participant)
        transaction.on_commit(lambda: events.coalesce(space.pk, event_type, shown))
        return
    if not participant.quiet:
        events.publish_on_commit(space, event_type, {"participant": participant_as_dict(participant)})
    events.publish_on_commit(space, "listeners.count", {"count": count})


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
            raise NotLive(_not_live_detail(space))
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
        events.publish_on_commit(
            space,
            "hand.raised" if raised else "hand.lowered",
            {"participant": participant_as_dict(participant)},
            audience=events.STAFF,
        )
    return participant


# --- Host and co-host controls ---------------------------------------------------------------


def participant_set_role(*, space: Space, actor, participant: Participant, role: str) -> Participant:
    """Toggle a participant between speaker and listener (host or co-host), or appoint or revoke a
    co-host (host only).

    Locks the Space, then counts speaking roles (host + co-hosts + speakers, at most
    SPACES_MAX_SPEAKERS) and co-hosts (at most SPACES_MAX_COHOSTS) under that lock, so concurrent
    promotions cannot overshoot. A promotion issues a fresh media token; a demotion clears it.
    Publishes ``participant.role_changed`` (with the listener count).
    """
    if role not in (Role.COHOST, Role.SPEAKER, Role.LISTENER):
        raise InvalidInput(
            "Role must be one of: cohost, speaker, listener.", code="invalid_role"
        )
    with transaction.atomic():
        space = lock_space(space)
        actor_p = _require_staff(space, actor)
        participant = lock_participant(participant)
        _require_live_target(space, participant)
        if participant.role == Role.HOST:
            raise NotPermitted("The host's role cannot be changed.", code="host_role_fixed")
        if Role.COHOST in (role, participant.role) and actor_p.role != Role.HOST:
            raise NotPermitted("Only the host appoints and revokes co-hosts.", code="host_only")
        if participant.role == role:
            if role == Role.LISTENER and participant.hand_raised_at is not None:
                # "Decline": the request to speak is answered, the person stays a listener.
                participant.hand_raised_at = None
                participant.save(update_fields=["hand_raised_at"])
                events.publish_on_commit(
                    space, "hand.lowered", {"participant": participant_as_dict(participant)}, audience=events.STAFF
                )
            return participant
        if participant.user_id is None and role != Role.LISTENER:
            raise Conflict(
                "Signed-out listeners cannot speak; ask them to sign in first.",
                code="sign_in_to_speak",
            )
        if role != Role.LISTENER and not participant.is_present:
            raise Conflict(f"{participant.display_name} is not in the Space right now.", code="not_present")
        seats = space.participants.filter(removed_at__isnull=True)
        if role == Role.COHOST:
            cohosts = seats.filter(role=Role.COHOST).count()
            if cohosts >= settings.SPACES_MAX_COHOSTS:
                raise CohostLimit(
                    f"This Space already has {settings.SPACES_MAX_COHOSTS} co-hosts, the most allowed. "
                    "Revoke one first."
                )
        if role != Role.LISTENER and participant.role == Role.LISTENER:
            speaking = seats.filter(role__in=Participant.SPEAKING_ROLES).count()
            if speaking >= settings.SPACES_MAX_SPEAKERS:
                raise SpeakerLimit(
                    f"The stage is full: {settings.SPACES_MAX_SPEAKERS} people can speak at once, "
                    "host and co-hosts included. Move someone off the stage first."
                )
        previous = participant.role
        if role == Role.LISTENER:
            _media_speaker_revoke_on_commit(space, participant)
        participant.role = role
        participant.hand_raised_at = None
        participant.quiet = False if role != Role.LISTENER else participant.quiet
        if role == Role.LISTENER:
            participant.media_token = ""
            participant.muted = False
        elif previous == Role.LISTENER:
            participant.media_token = new_media_token()
        participant.save(update_fields=["role", "hand_raised_at", "quiet", "media_token", "muted"])
        if previous == Role.LISTENER:
            room_id, token = space.media_room_id, participant.media_token
            transaction.on_commit(lambda: media.safely(media.speaker_allow, room_id=room_id, token=token))
        # The listener count travels in the same frame: one frame per change, not two, to
        # every socket of the room.
        events.publish_on_commit(
            space,
            "participant.role_changed",
            {"participant": participant_as_dict(participant), "previous_role": previous, "count": listener_count(space=space)},
        )
    return participant


def participant_set_muted(*, space: Space, actor, participant: Participant, muted: bool) -> Participant:
    """Mute or unmute someone on the stage. Host and co-hosts; a co-host cannot mute the host or
    another co-host. Publishes ``participant.muted``.
    """
    if not isinstance(muted, bool):
        raise InvalidInput("muted must be true or false.", code="invalid_muted")
    with transaction.atomic():
        space = lock_space(space)
        actor_p = _require_staff(space, actor)
        participant = lock_participant(participant)
        _require_live_target(space, participant)
        if not participant.is_speaking_role:
            raise Conflict(f"{participant.display_name} is not on the stage.", code="not_speaking")
        if participant.is_staff_role and actor_p.role != Role.HOST and participant.pk != actor_p.pk:
            raise NotPermitted("Co-hosts cannot mute the host or another co-host.", code="host_only")
        if participant.muted == muted:
            return participant
        participant.muted = muted
        participant.save(update_fields=["muted"])
        room_id, participant_id = space.media_room_id, participant.pk
        transaction.on_commit(
            lambda: media.safely(media.speaker_mute, room_id=room_id, participant_id=participant_id, muted=muted)
        )
        events.publish_on_commit(
            space, "participant.muted", {"participant": participant_as_dict(participant)}
        )
    return participant


def participant_remove(*, space: Space, actor, participant: Participant, block: bool = False) -> Participant:
    """Remove someone from a live Space; with ``block`` they cannot come back (by account, or by
    session for a signed-out listener). Host and co-hosts; nobody removes the host, and co-hosts
    cannot remove each other. Publishes ``participant.removed`` (with the listener count).
    """
    if not isinstance(block, bool):
        raise InvalidInput("block must be true or false.", code="invalid_block")
    with transaction.atomic():
        space = lock_space(space)
        actor_p = _require_staff(space, actor)
        participant = lock_participant(participant)
        _require_live_target(space, participant)
        if participant.role == Role.HOST:
            raise NotPermitted("The host cannot be removed.", code="host_role_fixed")
        if participant.pk == actor_p.pk:
            raise Conflict("Use leave to step out of the Space yourself.", code="cannot_remove_self")
        if participant.role == Role.COHOST and actor_p.role != Role.HOST:
            raise NotPermitted("Co-hosts cannot remove each other.", code="host_only")
        if participant.is_speaking_role:
            _media_speaker_revoke_on_commit(space, participant)
        now = timezone.now()
        participant.removed_at = now
        participant.left_at = participant.left_at or now
        participant.blocked = block
        participant.role = Role.LISTENER
        participant.hand_raised_at = None
        participant.media_token = ""
        participant.muted = False
        participant.save(
            update_fields=["removed_at", "left_at", "blocked", "role", "hand_raised_at", "media_token", "muted"]
        )
        events.publish_on_commit(
            space,
            "participant.removed",
            {"participant": participant_as_dict(participant), "blocked": block, "count": listener_count(space=space)},
        )
    return participant


def _require_staff(space: Space, actor) -> Participant:
    """The actor's own participant record, if they are host or co-host of this Space."""
    if actor is None or not actor.is_authenticated:
        raise NotPermitted("Sign in as the host or a co-host to do that.", code="not_authenticated")
    actor_p = space.participants.filter(user=actor, removed_at__isnull=True).first()
    if actor_p is None or not actor_p.is_staff_role:
        raise NotPermitted("Only the host and co-hosts can do that.")
    return actor_p


def _require_live_target(space: Space, participant: Participant) -> None:
    if participant.space_id != space.pk:
        raise InvalidInput("That participant is not in this Space.", code="participant_not_found")
    if space.state != State.LIVE:
        raise NotLive(_not_live_detail(space))
    if participant.removed_at is not None:
        raise Conflict(f"{participant.display_name} was removed from this Space.", code="removed")


def _not_live_detail(space: Space) -> str:
    if space.state == State.SCHEDULED:
        return "This Space has not started yet."
    return f"This Space is {space.get_state_display().lower()}."


# --- Presence and reactions ------------------------------------------------------------------


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
    events.flush_stale_batches()
    return left


REACTIONS = ("👏", "❤️", "😂", "🔥", "💯", "🙌", "😮", "👍")


def reaction_send(*, space: Space, participant: Participant, emoji: str) -> None:
    """Send a reaction to everyone in the room. Ephemeral: nothing is stored, no seq is taken.
    A quiet listener's reaction is shown without their name."""
    if emoji not in REACTIONS:
        raise InvalidInput(f"Pick one of {' '.join(REACTIONS)}.", code="unknown_reaction")
    if space.state != State.LIVE:
        raise NotLive(_not_live_detail(space))
    if not participant.is_present:
        raise Conflict("Join the Space first.", code="not_present")
    events.publish_now(
        space.pk,
        "reaction",
        {"emoji": emoji, "by": None if participant.quiet else participant.display_name},
    )
