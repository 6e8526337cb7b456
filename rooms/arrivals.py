"""What a websocket arrival reads, cached in each web process, so that a crowd of signed-out
listeners arriving at once costs the database nothing.

- The Space by its share code, for ``SPACE_TTL`` seconds: a socket takes its own copy, and what
  changes about a Space while it is cached (its state) comes to every socket in frames and in
  the snapshot.
- The snapshot as someone watching sees it (no ``me``), per Space, at its ``seq``. A socket added
  to the Space's relay gets every frame with a higher seq than the snapshot it is sent, so a
  cached snapshot is good as long as no frame with a higher seq has gone by the relay
  (``SpaceRelay.last_seq``). Signed-out joins are announced once a second (``rooms.batches``),
  so in a crowd the snapshot is read again about once a second, not once per arrival.
- A signed-out listener's own part (``me``) comes from Redis (``rooms.guests``).
"""

import asyncio
import copy
import json
import threading
import time
from collections.abc import Callable

from channels.db import database_sync_to_async
from django.core.serializers.json import DjangoJSONEncoder

from . import guests, selectors, snapshot
from .models import Space
from .wire import participant_wire

SPACE_TTL = 5.0
MAX_CACHED = 1000  # Spaces; the oldest go first

_lock = threading.Lock()
_spaces: dict[str, tuple[float, Space]] = {}
_snapshots: dict[int, tuple[int, dict]] = {}
_texts: dict[int, tuple[dict, str]] = {}
# Reads of a Space's watcher's snapshot under way in this process's event loop, and when each
# started (``awatcher_snapshot``); touched only from that loop.
_refreshes: dict[int, tuple[asyncio.Task, float]] = {}


def cached_space(code: str) -> Space | None:
    """A copy of this process's cached Space of a share code, if it is fresh; else None."""
    with _lock:
        hit = _spaces.get(code)
    return copy.copy(hit[1]) if hit is not None and time.monotonic() - hit[0] <= SPACE_TTL else None


def space_by_code(code: str) -> Space:
    """The Space of a share code (a copy of this process's cached one); raises ``NotFound``."""
    now = time.monotonic()
    with _lock:
        hit = _spaces.get(code)
    if hit is None or now - hit[0] > SPACE_TTL:
        space = selectors.space_get(code=code)
        with _lock:
            if len(_spaces) >= MAX_CACHED:
                _spaces.pop(next(iter(_spaces)))
            _spaces[code] = (now, space)
        hit = (now, space)
    return copy.copy(hit[1])


def watcher_snapshot(space_id: int, *, newest_seq: int) -> dict:
    """The snapshot of someone watching (``me`` is None), read again only when a frame with a
    higher seq than the cached one has gone by this process's relay of the Space."""
    with _lock:
        hit = _snapshots.get(space_id)
    if hit is not None and hit[0] >= newest_seq:
        return hit[1]
    fresh = snapshot.space_snapshot(space_id=space_id, viewer=None)
    with _lock:
        if len(_snapshots) >= MAX_CACHED:
            _snapshots.pop(next(iter(_snapshots)))
        current = _snapshots.get(space_id)
        if current is None or current[0] <= fresh["seq"]:
            _snapshots[space_id] = (fresh["seq"], fresh)
    return fresh


async def awatcher_snapshot(space_id: int, *, newest_seq: Callable[[], float]) -> dict:
    """``watcher_snapshot`` from the event loop. A stale snapshot is read again once for every
    socket that wants it meanwhile: one thread hop and one set of queries for a crowd, where
    each arrival that came right after a frame went by used to read it on its own, one after
    another in the single thread the database work of a process runs in.

    ``newest_seq`` is the relay's: read when asked, so that a read already under way that began
    before that is not trusted to be current (one that began after it is, as ``watcher_snapshot``
    trusts its own reads: a frame goes by the relay only after its change is committed)."""
    floor, asked = newest_seq(), time.monotonic()
    hit = cached_watcher_snapshot(space_id, newest_seq=floor)
    if hit is not None:
        return hit
    loop = asyncio.get_running_loop()
    under_way = _refreshes.get(space_id)
    if under_way is not None and under_way[0].get_loop() is loop:
        fresh = await asyncio.shield(under_way[0])
        if fresh["seq"] >= floor or under_way[1] >= asked:
            return fresh
        under_way = _refreshes.get(space_id)  # another may have begun since we asked
    if under_way is None or under_way[1] < asked or under_way[0].get_loop() is not loop:
        task = loop.create_task(database_sync_to_async(watcher_snapshot)(space_id, newest_seq=floor))
        under_way = _refreshes[space_id] = (task, asked)
        task.add_done_callback(lambda done: _refreshed(space_id, done))
    return await asyncio.shield(under_way[0])


def _refreshed(space_id: int, task: asyncio.Task) -> None:
    if _refreshes.get(space_id, (None,))[0] is task:
        del _refreshes[space_id]
    if not task.cancelled():
        task.exception()  # each waiter has it raised; retrieved here so none is reported unseen


def text_of(frame: dict) -> str:
    """The JSON of a snapshot: a cached watcher's snapshot is serialised once for every socket
    it is sent to (a crowd's arrivals share it)."""
    with _lock:
        cached = _texts.get(id(frame))
    if cached is not None and cached[0] is frame:
        return cached[1]
    text = json.dumps(frame, cls=DjangoJSONEncoder)
    with _lock:
        if any(hit[1] is frame for hit in _snapshots.values()):
            _texts[id(frame)] = (frame, text)
            # Only the current snapshots' texts are kept.
            live = {id(hit[1]) for hit in _snapshots.values()}
            for key in [k for k in _texts if k not in live]:
                del _texts[key]
    return text


def guest_snapshot(space_id: int, guest: guests.Guest, *, newest_seq: int) -> tuple[dict, bool]:
    """The snapshot for a signed-out listener: the watcher's, with ``me`` if they listen now.
    Returns it and whether they listen."""
    shared = watcher_snapshot(space_id, newest_seq=newest_seq)
    live = shared["data"]["space"]["state"] == Space.State.LIVE
    return with_me(shared, guests.get(space_id, guest.uid) if live else None)


def cached_watcher_snapshot(space_id: int, *, newest_seq: int) -> dict | None:
    """The cached watcher's snapshot if it is current (see ``watcher_snapshot``), else None."""
    with _lock:
        hit = _snapshots.get(space_id)
    return hit[1] if hit is not None and hit[0] >= newest_seq else None


def with_me(shared: dict, found: guests.Guest | None) -> tuple[dict, bool]:
    """A watcher's snapshot made a listening guest's (``found``; None: they do not listen)."""
    if found is None or shared["data"]["space"]["state"] != Space.State.LIVE:
        return shared, False
    me = participant_wire(selectors.guest_wire(found)) | {"quiet": False, "can": [snapshot.LEAVE]}
    return {**shared, "data": {**shared["data"], "me": me}}, True


def forget() -> None:
    """Empty the caches (for tests that change rows behind the app's back)."""
    with _lock:
        _spaces.clear()
        _snapshots.clear()
        _texts.clear()
    _refreshes.clear()
