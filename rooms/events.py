"""Publishing real-time events for a Space.

Every change a service makes is announced with ``publish_on_commit`` from inside the service's
transaction. The event takes the Space's next sequence number in that same transaction, so a
snapshot read in one transaction and the deltas that follow it agree on what came before, and it is
sent to the channel layer only once the transaction commits: a rolled-back change is never
announced.

Frame shape: ``{"type": ..., "seq": ..., "at": ..., "data": {...}}``.
"""

import json
import logging
import threading
from contextlib import contextmanager

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Space

logger = logging.getLogger(__name__)

EVERYONE = "everyone"
STAFF = "staff"  # host and co-hosts only

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
        "participant.removed",
        "hand.raised",
        "hand.lowered",
        "speaking",
        "reaction",
        "listeners.count",
        "participant.batch",
    }
)

_captured: list[list[dict]] = []


def space_group(space_id: int) -> str:
    """Channel-layer group of everyone connected to a Space (built from the id, never user text)."""
    return f"space.{space_id}"


def space_staff_group(space_id: int) -> str:
    """Channel-layer group of the host's and co-hosts' connections to a Space."""
    return f"space.{space_id}.staff"


def next_seq(space_id: int) -> int:
    """Take the Space's next event number; the caller's transaction holds the row until commit."""
    Space.objects.filter(pk=space_id).update(event_seq=F("event_seq") + 1)
    return Space.objects.filter(pk=space_id).values_list("event_seq", flat=True).get()


def make_frame(event_type: str, seq: int, data: dict) -> dict:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event_type!r}")
    frame = {"type": event_type, "seq": seq, "at": timezone.now(), "data": data}
    # Round-trip through JSON so an event that cannot be sent fails where it is made.
    return json.loads(json.dumps(frame, cls=DjangoJSONEncoder))


def publish_on_commit(space: Space, event_type: str, data: dict, *, audience: str = EVERYONE) -> dict:
    """Announce ``event_type`` to the Space's sockets once the current transaction commits.

    Events for everyone advance the Space's ``seq``; staff-only events (raised hands) carry the
    current ``seq`` unchanged so that listeners, who never see them, see no gap.
    """
    if audience == EVERYONE:
        seq = next_seq(space.pk)
        space.event_seq = seq
        group = space_group(space.pk)
    elif audience == STAFF:
        seq = Space.objects.filter(pk=space.pk).values_list("event_seq", flat=True).get()
        group = space_staff_group(space.pk)
    else:
        raise ValueError(f"Unknown audience {audience!r}")
    frame = make_frame(event_type, seq, data)
    if audience == STAFF:
        frame["private"] = True
    transaction.on_commit(lambda: send(group, frame))
    return frame


def publish_now(space_id: int, event_type: str, data: dict) -> None:
    """Send an ephemeral event (reactions, talking) that changes no stored state: it takes no
    sequence number, so missing it never calls for a resync."""
    send(space_group(space_id), make_frame(event_type, 0, data) | {"ephemeral": True})


def send(group: str, frame: dict) -> None:
    for sink in _captured:
        sink.append({"group": group, **frame})
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        # Serialised once here rather than once per socket: a big room's fan-out is mostly this.
        text = json.dumps(frame, cls=DjangoJSONEncoder)
        async_to_sync(layer.group_send)(group, {"type": "space.event", "frame": frame, "text": text})
    except Exception:
        # The change is committed; a client that misses this frame resyncs on the next one.
        logger.exception("Could not publish %s to %s", frame.get("type"), group)


BATCH_NAMES = 20
BATCH_INTERVAL = 1.0


def _redis():
    from . import presence

    return presence.sync_client()


def _batch_key(space_id: int) -> str:
    from . import presence

    return f"{presence.space_key(space_id)}:batch"


def coalesce(space_id: int, event_type: str, participant: dict | None) -> None:
    """Queue a join or leave of a big room for the next batch, and make sure a flush is coming:
    whoever queues first in a second arms a timer; the flush takes one seq for the whole batch."""
    kind = "joined" if event_type == "participant.joined" else "left"
    client = _redis()
    key = _batch_key(space_id)
    client.rpush(key, json.dumps({"kind": kind, "participant": participant}))
    if client.set(f"{key}:armed", 1, nx=True, px=int(BATCH_INTERVAL * 1000) + 500):
        timer = threading.Timer(BATCH_INTERVAL, flush_batch, args=(space_id,))
        timer.daemon = True
        timer.start()


def flush_batch(space_id: int) -> None:
    """Publish what was queued for a Space as one ``participant.batch`` frame (up to 20 names of
    each kind, plus counts and the listener count)."""
    from django.db import close_old_connections

    from .selectors import listener_count

    client = _redis()
    key = _batch_key(space_id)
    pipe = client.pipeline()
    pipe.lrange(key, 0, -1)
    pipe.delete(key, f"{key}:armed")
    items, _ = pipe.execute()
    if not items:
        return
    queued = [json.loads(item) for item in items]
    joined = [q["participant"] for q in queued if q["kind"] == "joined"]
    left = [q["participant"] for q in queued if q["kind"] == "left"]
    try:
        with transaction.atomic():
            space = Space.objects.select_for_update().get(pk=space_id)
            data = {
                "joined": [p for p in joined if p][:BATCH_NAMES],
                "left": [p for p in left if p][:BATCH_NAMES],
                "joined_count": len(joined),
                "left_count": len(left),
                "count": listener_count(space=space),
            }
            publish_on_commit(space, "participant.batch", data)
    except Exception:
        logger.exception("Could not flush the presence batch of Space %s", space_id)
    finally:
        close_old_connections()


@contextmanager
def capture():
    """Collect the frames sent while the block runs (for tests)."""
    sink: list[dict] = []
    _captured.append(sink)
    try:
        yield sink
    finally:
        _captured.remove(sink)
