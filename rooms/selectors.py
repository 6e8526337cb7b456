"""Reads: what pages, the API and the websocket show about Spaces. No writes here."""

import re

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from . import guests, media
from .errors import NotFound
from .identity import Visitor
from .models import Participant, Space

Role = Participant.Role

# Share codes and participant ids are URL-safe base64; anything else cannot match a row.
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def space_list(*, state: str | None = None) -> QuerySet[Space]:
    spaces = Space.objects.select_related("host").annotate(
        listener_count=Count(
            "participants",
            filter=Q(
                participants__role=Role.LISTENER,
                participants__left_at__isnull=True,
                participants__removed_at__isnull=True,
            ),
        )
    )
    if state == Space.State.SCHEDULED:
        return spaces.filter(state=state).order_by("scheduled_for", "pk")
    if state == Space.State.LIVE:
        return spaces.filter(state=state).order_by("-listener_count", "-started_at", "pk")
    if state:
        return spaces.filter(state=state).order_by("-ended_at", "-pk")
    return spaces.order_by("-created_at", "-pk")


def live_counted(spaces) -> list[Space]:
    """Live Spaces of ``space_list`` with their signed-out listeners added to the annotated
    count (those are in Redis), busiest first."""
    spaces = list(spaces)
    for space in spaces:
        space.listener_count += signed_out_count(space=space)
    return sorted(spaces, key=lambda s: -s.listener_count)


def space_get(*, code: str) -> Space:
    try:
        if not PUBLIC_ID.fullmatch(code):
            raise Space.DoesNotExist
        return Space.objects.select_related("host").get(code=code)
    except Space.DoesNotExist:
        raise NotFound("There is no Space with that code; check the share link.", code="space_not_found")


def participant_get(*, space: Space, uid: str) -> Participant:
    try:
        if not PUBLIC_ID.fullmatch(uid):
            raise Participant.DoesNotExist
        return space.participants.select_related("user").get(uid=uid)
    except Participant.DoesNotExist:
        # A signed-out listener in Redis: acting on them makes them a row (services.lock_participant).
        guest = guests.get(space.pk, uid) if PUBLIC_ID.fullmatch(uid) and space.state == Space.State.LIVE else None
        if guest is None:
            raise NotFound("There is no such participant in this Space.", code="participant_not_found")
        participant = guest_wire(guest)
        participant.space, participant.address = space, guest.address or None
        return participant


def participant_for(*, space: Space, visitor: Visitor) -> Participant | None:
    """The visitor's participant record in this Space, if they have one."""
    if visitor.signed_in:
        return space.participants.filter(user=visitor.user).first()
    if visitor.anon_id:
        return space.participants.filter(user__isnull=True, anon_id=visitor.anon_id).first()
    return None


def participants_present(*, space: Space) -> QuerySet[Participant]:
    return space.participants.present().select_related("user")


def participants_shown(*, space: Space) -> list[Participant]:
    """Who is here, as anyone may see it: present and not listening quietly, by role then arrival."""
    order = {role: i for i, role in enumerate(Participant.Role.values)}
    people = list(participants_present(space=space).named())
    if space.state == Space.State.LIVE:
        people += [guest_wire(guest) for guest in guests.newest(space.pk, -1)]
    return sorted(people, key=lambda p: (order[p.role], p.joined_at, p.pk or 0))


def listeners_newest(*, space: Space, limit: int) -> list[Participant]:
    """The ``limit`` listeners who arrived last and may be named, rows and signed-out listeners
    in Redis together, newest first."""
    rows = list(participants_present(space=space).named().filter(role=Role.LISTENER).order_by("-joined_at")[:limit])
    if space.state == Space.State.LIVE:
        rows += [guest_wire(guest) for guest in guests.newest(space.pk, limit)]
    return sorted(rows, key=lambda p: p.joined_at, reverse=True)[:limit]


def stage(*, space: Space) -> QuerySet[Participant]:
    """Host, co-hosts and speakers, present or briefly away: they keep their seat."""
    return space.participants.on_stage().select_related("user")


def listener_count(*, space: Space) -> int:
    """Present listeners with a row (signed in, or signed out and acted on) and the signed-out
    listeners in Redis (``rooms.guests``) who joined the audio."""
    return participants_present(space=space).filter(role=Role.LISTENER).count() + signed_out_count(space=space)


def signed_out_count(*, space: Space) -> int:
    """The signed-out listeners of a live Space (in Redis, ``rooms.guests``)."""
    return guests.count(space.pk) if space.state == Space.State.LIVE else 0


def guest_wire(guest: guests.Guest) -> Participant:
    """A signed-out listener as the wire shows any participant: an unsaved row (never saved)."""
    return Participant(
        uid=guest.uid, display_name=guest.name, role=Role.LISTENER, user=None, anon_id=guest.anon_id,
        joined_at=guest.joined_at,
    )


def gone_guest(uid: str) -> Participant:
    """A signed-out listener who left, for a ``left`` list: only their id is known any more."""
    return Participant(uid=uid, display_name="Listener", role=Role.LISTENER, user=None, left_at=timezone.now())


def guest_listening(*, space: Space, visitor: Visitor) -> Participant | None:
    """A signed-out visitor who listens to this Space now, in a participant's shape; else None."""
    if visitor.signed_in or not visitor.anon_id or space.state != Space.State.LIVE:
        return None
    guest = guests.get(space.pk, guests.guest_uid(space.pk, visitor.anon_id))
    if guest is None:
        return None
    participant = guest_wire(guest)
    participant.space = space
    return participant


def guest_for(*, space: Space, visitor: Visitor, client: str = "") -> guests.Guest | None:
    """The signed-out visitor as a guest of this Space (listening or not); None if signed in."""
    if visitor.signed_in or not visitor.anon_id:
        return None
    return guests.Guest(uid=guests.guest_uid(space.pk, visitor.anon_id), name=visitor.name, anon_id=visitor.anon_id, address=client)


def viewer_wire(*, visitor: Visitor, row: Participant | None) -> Participant:
    """A signed-in visitor who watches a live Space without listening (not counted), in a
    participant's shape for what a watcher may do (react, as a signed-out watcher may): an
    unsaved row under their row's id, or ``u<user pk>`` if they have none (never saved)."""
    return Participant(
        uid=row.uid if row is not None else f"u{visitor.user.pk}", display_name=visitor.name,
        role=Role.LISTENER, user=visitor.user, quiet=bool(row and row.quiet),
    )


def presence_counts(*, space: Space) -> tuple[int, int]:
    """``(present, listeners)``: the Space's present rows in one pass, and its signed-out listeners."""
    counts = participants_present(space=space).aggregate(
        present=Count("pk"), listeners=Count("pk", filter=Q(role=Role.LISTENER))
    )
    signed_out = signed_out_count(space=space)
    return counts["present"] + signed_out, counts["listeners"] + signed_out


def hands_raised(*, space: Space) -> QuerySet[Participant]:
    return participants_present(space=space).filter(hand_raised_at__isnull=False).order_by(
        "hand_raised_at"
    )


def media_credentials(*, space: Space, participant: Participant) -> dict | None:
    """Media credentials for someone present in a live Space with a media room; else None.
    Signed here, without a call to the media server."""
    if space.state != Space.State.LIVE or not space.media_room_id or not participant.is_present:
        return None
    return media.media_server().credentials(room_id=space.media_room_id, pin=space.media_pin, participant=participant)
