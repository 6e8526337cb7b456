"""Big rooms: joins and leaves are folded into one ``participant.batch`` frame a second, so that N
joins cost each client O(N) frames per second rather than N frames each."""

import json
import logging
import threading

from django.db import connections, transaction

from . import events, guests, presence
from .models import Participant, Space
from .selectors import gone_guest, guest_wire, listener_count

logger = logging.getLogger(__name__)

BATCH_NAMES = 20
BATCH_INTERVAL = 1.0
# How many of the newest queued people are looked up to find the (at most) 20 to name.
BATCH_LOOKUP = 200


def _batch_key(space_id: int) -> str:
    return f"{presence.space_key(space_id)}:batch"


def _batching_key() -> str:
    return f"{presence.spaces_key()}:batching"


def batch_keys(space_id: int) -> tuple[str, str, str, int]:
    """What a script that queues a join or leave needs: the Space's queue, the set of Spaces with
    a queue, the key that says a flush is armed, and how long that key lives (ms)."""
    key = _batch_key(space_id)
    return key, _batching_key(), f"{key}:armed", int(BATCH_INTERVAL * 1000) + 1000


def coalesce(space_id: int, joined: bool, participant_uid: str | None) -> None:
    """Queue a join or leave of a big room for the next batch (``participant_uid`` is None for a quiet
    listener: counted, never named), and make sure a flush is coming: whoever queues first in a
    second arms a timer in their process. If that process dies, the ``armed`` key expires and the
    next queueing, or the presence sweep (``flush_stale_batches``), flushes instead."""
    kind = "joined" if joined else "left"
    key, batching, armed_key, armed_ms = batch_keys(space_id)
    pipe = presence.sync_client().pipeline(transaction=False)
    pipe.rpush(key, json.dumps({"kind": kind, "id": participant_uid}))
    pipe.sadd(batching, space_id)
    pipe.set(armed_key, 1, nx=True, px=armed_ms)
    *_, armed = pipe.execute()
    if armed:
        arm(space_id)


def arm(space_id: int) -> None:
    """Flush the Space's batch in a second, from this process (its caller set the armed key)."""
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
        space = Space.objects.select_for_update().filter(pk=space_id).first()
        if space is None or space.state != Space.State.LIVE:
            return None  # space.ended says everything that is left to say (or the Space is gone)
        people = Participant.objects.named().filter(space_id=space_id, uid__in=newest["joined"] + newest["left"])
        by_uid = {p.uid: p for p in people}
        # Signed-out listeners are not rows: the ones listening now are in Redis, the others left.
        unknown = [u for u in newest["joined"] + newest["left"] if u not in by_uid]
        guests_now = {uid: guest_wire(guest) for uid, guest in guests.listening(space_id, unknown).items()}
        by_uid |= guests_now
        joined = [by_uid[u] for u in newest["joined"] if u in by_uid and by_uid[u].is_present]
        left = [by_uid[u] for u in newest["left"] if u in by_uid and not by_uid[u].is_present]
        left += [gone_guest(u) for u in newest["left"] if u in unknown and u not in guests_now]
        count = listener_count(space=space)
        if count > space.peak_listeners:
            space.peak_listeners = count
            space.save(update_fields=["peak_listeners"])
        event = events.participant_batch(
            joined=joined[:BATCH_NAMES],
            left=left[:BATCH_NAMES],
            joined_count=sum(q["kind"] == "joined" for q in queued),
            left_count=sum(q["kind"] == "left" for q in queued),
            count=count,
        )
        return events.publish_on_commit(space, event)


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
