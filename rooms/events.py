"""The events of a Space: every frame the websocket carries is made by one constructor here.

A service builds an event with a constructor (``events.participant_muted(participant)``) and
hands it to ``publish_on_commit`` inside its transaction. The event takes the Space's next
sequence number in that same transaction, so a snapshot read in one transaction and the deltas
that follow it agree on what came before, and it is sent only once the transaction commits: a
rolled-back change is never announced. Objects inside events have the one wire shape of
``rooms.wire``, the same as the REST API's.

Frame: ``{"type", "seq", "at", "data"}``; the protocol is written up in docs/REALTIME.md.
"""

import json
from dataclasses import dataclass, field

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from . import publisher
from .models import Participant, Space
from .publisher import EVERYONE, STAFF
from .wire import participant_wire, space_wire

__all__ = ["EVERYONE", "STAFF", "Event", "publish_on_commit", "publish_now"]


@dataclass(frozen=True)
class Event:
    type: str
    data: dict = field(default_factory=dict)
    audience: str = EVERYONE  # STAFF: host and co-hosts only (raised hands)
    ephemeral: bool = False  # changes nothing stored: takes no seq, never calls for a resync


# --- the Space ---------------------------------------------------------------------------------


def space_started(space: Space) -> Event:
    return Event("space.started", space_wire(space))


def space_updated(space: Space) -> Event:
    return Event("space.updated", space_wire(space))


def space_ended(space: Space, *, reason: str) -> Event:
    return Event("space.ended", space_wire(space) | {"reason": reason})


def space_cancelled(space: Space) -> Event:
    return Event("space.cancelled", space_wire(space))


def space_missed(space: Space) -> Event:
    return Event("space.missed", space_wire(space))


# --- people ------------------------------------------------------------------------------------


def participant_joined(participant: Participant) -> Event:
    return Event("participant.joined", {"participant": participant_wire(participant)})


def participant_left(participant: Participant) -> Event:
    return Event("participant.left", {"participant": participant_wire(participant)})


def participant_role_changed(participant: Participant, *, previous_role: str, count: int) -> Event:
    # The listener count travels in the same frame: one frame per change, not two, to every socket.
    return Event(
        "participant.role_changed",
        {"participant": participant_wire(participant), "previous_role": previous_role, "count": count},
    )


def participant_muted(participant: Participant) -> Event:
    return Event("participant.muted", {"participant": participant_wire(participant)})


def participant_self_muted(participant: Participant) -> Event:
    return Event("participant.self_muted", {"participant": participant_wire(participant)})


def participant_removed(participant: Participant, *, blocked: bool, count: int) -> Event:
    return Event(
        "participant.removed", {"participant": participant_wire(participant), "blocked": blocked, "count": count}
    )


def participant_batch(*, joined: list, left: list, joined_count: int, left_count: int, count: int) -> Event:
    """Big rooms: the joins and leaves of about a second in one frame (``rooms.batches``)."""
    return Event(
        "participant.batch",
        {
            "joined": [participant_wire(p) for p in joined],
            "left": [participant_wire(p) for p in left],
            "joined_count": joined_count,
            "left_count": left_count,
            "count": count,
        },
    )


def listeners_count(count: int) -> Event:
    return Event("listeners.count", {"count": count})


def hand_raised(participant: Participant) -> Event:
    return Event("hand.raised", {"participant": participant_wire(participant)}, audience=STAFF)


def hand_lowered(participant: Participant) -> Event:
    return Event("hand.lowered", {"participant": participant_wire(participant)}, audience=STAFF)


def speaking(participant_uid: str, *, talking: bool) -> Event:
    return Event("speaking", {"participant": participant_uid, "talking": talking}, ephemeral=True)


def reaction(emoji: str, *, by: str | None) -> Event:
    return Event("reaction", {"emoji": emoji, "by": by}, ephemeral=True)


# --- captions (the ``captions`` app builds the data; docs/CAPTIONS.md) -----------------------------


def captions_updated(data: dict) -> Event:
    """Captions turned on or off, or a speaker's consent given or revoked: ``{"on", "captioned"}``."""
    return Event("captions.updated", data)


def caption(data: dict) -> Event:
    """Words of consenting speakers, as they come (``final`` false) and once an utterance ends."""
    return Event("caption", data, ephemeral=True)


EVENT_TYPES = frozenset(
    {
        "space.started",
        "space.updated",
        "space.ended",
        "space.cancelled",
        "space.missed",
        "participant.joined",
        "participant.left",
        "participant.role_changed",
        "participant.muted",
        "participant.self_muted",
        "participant.removed",
        "participant.batch",
        "hand.raised",
        "hand.lowered",
        "speaking",
        "reaction",
        "listeners.count",
        "captions.updated",
        "caption",
    }
)


# --- publishing --------------------------------------------------------------------------------


def next_seq(space_id: int) -> int:
    """Take the Space's next event number; the caller's transaction holds the row until commit."""
    table = connection.ops.quote_name(Space._meta.db_table)
    with connection.cursor() as cursor:
        # One round trip (PostgreSQL, and SQLite since 3.35, both have RETURNING).
        cursor.execute(f"UPDATE {table} SET event_seq = event_seq + 1 WHERE id = %s RETURNING event_seq", [space_id])
        row = cursor.fetchone()
    if row is None:
        raise Space.DoesNotExist(f"No Space with id {space_id}")
    return row[0]


def make_frame(event: Event, seq: int) -> dict:
    if event.type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event.type!r}")
    frame = {"type": event.type, "seq": seq, "at": timezone.now(), "data": event.data}
    if event.audience == STAFF:
        frame["private"] = True
    if event.ephemeral:
        frame["ephemeral"] = True
    # Round-trip through JSON so an event that cannot be sent fails where it is made.
    return json.loads(json.dumps(frame, cls=DjangoJSONEncoder))


def publish_on_commit(space: Space, event: Event) -> dict:
    """Announce ``event`` to the Space's sockets once the current transaction commits.

    Events for everyone advance the Space's ``seq``; staff-only events (raised hands) carry the
    current ``seq`` unchanged and ``"private": true``, so that listeners, who never see them, see
    no gap, and staff clients apply them whatever their seq.
    """
    if event.ephemeral:
        raise ValueError(f"{event.type} changes nothing stored: use publish_now")
    if event.audience == EVERYONE:
        seq = next_seq(space.pk)
        space.event_seq = seq
    elif event.audience == STAFF:
        seq = Space.objects.filter(pk=space.pk).values_list("event_seq", flat=True).get()
    else:
        raise ValueError(f"Unknown audience {event.audience!r}")
    frame = make_frame(event, seq)
    space_id, audience = space.pk, event.audience
    transaction.on_commit(lambda: publisher.send(space_id, frame, audience=audience))
    return frame


def publish_now(space_id: int, event: Event) -> None:
    """Send an ephemeral event (reactions, talking) at once: it takes no sequence number (``seq``
    0), so missing it never calls for a resync."""
    if not event.ephemeral:
        raise ValueError(f"{event.type} changes stored state: use publish_on_commit")
    publisher.send(space_id, make_frame(event, 0))
