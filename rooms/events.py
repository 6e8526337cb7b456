"""Publishing real-time events for a Space.

Every change a service makes is announced with ``publish_on_commit`` from inside the service's
transaction. The event takes the Space's next sequence number in that same transaction, so a
snapshot read in one transaction and the deltas that follow it agree on what came before, and it is
sent to the channel layer only once the transaction commits: a rolled-back change is never
announced.

Frame shape: ``{"type": ..., "seq": ..., "at": ..., "data": {...}}``.
"""

import asyncio
import json
import logging
import os
import threading
from contextlib import contextmanager

from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, connections, transaction
from django.utils import timezone

from . import presence
from .models import Participant, Space
from .selectors import listener_count, participant_as_dict

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
    """Channel-layer group of a Space: the relay of every process with sockets in it (built from
    the id, never from user text). Staff-only frames travel in it too, marked with their audience;
    the relays hand them to host and co-host sockets only (rooms/relay.py)."""
    return f"space.{space_id}"


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


def make_frame(event_type: str, seq: int, data: dict) -> dict:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event_type!r}")
    frame = {"type": event_type, "seq": seq, "at": timezone.now(), "data": data}
    # Round-trip through JSON so an event that cannot be sent fails where it is made.
    return json.loads(json.dumps(frame, cls=DjangoJSONEncoder))


def publish_on_commit(space: Space, event_type: str, data: dict, *, audience: str = EVERYONE) -> dict:
    """Announce ``event_type`` to the Space's sockets once the current transaction commits.

    Events for everyone advance the Space's ``seq``; staff-only events (raised hands) carry the
    current ``seq`` unchanged and ``"private": true``, so that listeners, who never see them, see
    no gap, and staff clients apply them whatever their seq.
    """
    if audience == EVERYONE:
        seq = next_seq(space.pk)
        space.event_seq = seq
    elif audience == STAFF:
        seq = Space.objects.filter(pk=space.pk).values_list("event_seq", flat=True).get()
    else:
        raise ValueError(f"Unknown audience {audience!r}")
    frame = make_frame(event_type, seq, data)
    if audience == STAFF:
        frame["private"] = True
    transaction.on_commit(lambda: send(space.pk, frame, audience=audience))
    return frame


def publish_now(space_id: int, event_type: str, data: dict) -> None:
    """Send an ephemeral event (reactions, talking) that changes no stored state: it takes no
    sequence number (``seq`` 0, ``"ephemeral": true``), so missing it never calls for a resync."""
    send(space_id, make_frame(event_type, 0, data) | {"ephemeral": True})


def send(space_id: int, frame: dict, *, audience: str = EVERYONE) -> None:
    group = space_group(space_id)
    for sink in _captured:
        sink.append({"group": group, "audience": audience, **frame})
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        # Serialised once here: every socket of the Space receives this very text.
        text = json.dumps(frame, cls=DjangoJSONEncoder)
        _publisher.run(layer.group_send(group, {"type": "space.event", "frame": frame, "text": text, "audience": audience}))
    except Exception:
        # The change is committed; a client that misses this frame resyncs on the next one.
        logger.exception("Could not publish %s to %s", frame.get("type"), group)


class _Publisher:
    """The event loop this process publishes on, in a thread of its own.

    Services are synchronous. ``async_to_sync`` from a plain thread would run each publish on a
    new event loop, and channels-redis keeps its connections per loop, so every event would open
    (and drop) a Redis connection: milliseconds added to every frame. One long-lived loop keeps
    the connections. Made on first use in each process (a forked Celery worker makes its own).
    """

    TIMEOUT = 5.0

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="spaces-events", daemon=True)
                self._thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def close(self) -> None:
        """Stop the loop and close its connections; the next event starts a new one."""
        with self._lock:
            loop, self._loop = self._loop, None
            if loop is None or self._pid != os.getpid():
                return
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=self.TIMEOUT)
            # channels-redis closes each layer's connections of a loop when the loop closes.
            loop.close()

    def run(self, coroutine):
        """Run ``coroutine`` on the publishing loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._running_loop()).result(self.TIMEOUT)


_publisher = _Publisher()


def close_publisher() -> None:
    """Close this process's publishing loop and its Redis connections (it starts again on the
    next event). For code that swaps channel layers, such as the tests; a server never needs it."""
    _publisher.close()


# Big rooms: joins and leaves are folded into one ``participant.batch`` frame a second.
BATCH_NAMES = 20
BATCH_INTERVAL = 1.0
# How many of the newest queued people are looked up to find the (at most) 20 to name.
BATCH_LOOKUP = 200


def _batch_key(space_id: int) -> str:
    return f"{presence.space_key(space_id)}:batch"


def _batching_key() -> str:
    return f"{presence.spaces_key()}:batching"


def coalesce(space_id: int, event_type: str, participant: dict | None) -> None:
    """Queue a join or leave of a big room for the next batch (``participant`` is None for a quiet
    listener: counted, never named), and make sure a flush is coming: whoever queues first in a
    second arms a timer in their process. If that process dies, the ``armed`` key expires and the
    next queueing, or the presence sweep (``flush_stale_batches``), flushes instead."""
    kind = "joined" if event_type == "participant.joined" else "left"
    key = _batch_key(space_id)
    pipe = presence.sync_client().pipeline(transaction=False)
    pipe.rpush(key, json.dumps({"kind": kind, "id": participant["id"] if participant else None}))
    pipe.sadd(_batching_key(), space_id)
    pipe.set(f"{key}:armed", 1, nx=True, px=int(BATCH_INTERVAL * 1000) + 1000)
    *_, armed = pipe.execute()
    if armed:
        timer = threading.Timer(BATCH_INTERVAL, _flush_in_thread, args=(space_id,))
        timer.daemon = True
        timer.start()


def _flush_in_thread(space_id: int) -> None:
    try:
        flush_batch(space_id)
    except Exception:
        logger.exception("Could not flush the presence batch of Space %s", space_id)
    finally:
        # This thread is about to end: its database connection would otherwise linger.
        connections.close_all()


def flush_batch(space_id: int) -> dict | None:
    """Publish what was queued for a Space as one ``participant.batch`` frame, which takes one
    seq: ``{"joined": [...], "left": [...], "joined_count", "left_count", "count"}``.

    The people named (up to 20 of each, the newest) are read again under the Space's lock, so a
    batch never names someone as joined who has left since, nor names a quiet listener; the counts
    cover everyone queued, and ``count`` is the listener count at this seq.
    """
    key = _batch_key(space_id)
    pipe = presence.sync_client().pipeline(transaction=True)
    pipe.lrange(key, 0, -1)
    pipe.delete(key, f"{key}:armed")
    pipe.srem(_batching_key(), space_id)
    items, *_ = pipe.execute()
    if not items:
        return None
    queued = [json.loads(item) for item in items]
    newest = {kind: _newest_ids(queued, kind) for kind in ("joined", "left")}
    with transaction.atomic():
        space = Space.objects.select_for_update().get(pk=space_id)
        if space.state != Space.State.LIVE:
            return None  # space.ended says everything that is left to say
        people = Participant.objects.filter(space_id=space_id, uid__in=newest["joined"] + newest["left"], quiet=False)
        by_uid = {p.uid: p for p in people}
        joined = [by_uid[u] for u in newest["joined"] if u in by_uid and by_uid[u].is_present]
        left = [by_uid[u] for u in newest["left"] if u in by_uid and not by_uid[u].is_present]
        data = {
            "joined": [participant_as_dict(p) for p in joined[:BATCH_NAMES]],
            "left": [participant_as_dict(p) for p in left[:BATCH_NAMES]],
            "joined_count": sum(q["kind"] == "joined" for q in queued),
            "left_count": sum(q["kind"] == "left" for q in queued),
            "count": listener_count(space=space),
        }
        return publish_on_commit(space, "participant.batch", data)


def _newest_ids(queued: list[dict], kind: str) -> list[str]:
    ids = [q["id"] for q in reversed(queued) if q["kind"] == kind and q["id"]]
    return list(dict.fromkeys(ids))[:BATCH_LOOKUP]


def flush_stale_batches() -> int:
    """Flush the batches nobody is about to flush (their arming process died). Run by the
    presence sweep; returns how many were flushed."""
    client = presence.sync_client()
    flushed = 0
    for space_id in [int(s) for s in client.smembers(_batching_key())]:
        if not client.exists(f"{_batch_key(space_id)}:armed"):
            flushed += flush_batch(space_id) is not None
    return flushed


@contextmanager
def capture():
    """Collect the frames sent while the block runs (for tests)."""
    sink: list[dict] = []
    _captured.append(sink)
    try:
        yield sink
    finally:
        _captured.remove(sink)
