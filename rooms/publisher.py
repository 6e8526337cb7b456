"""Sending frames to a Space's sockets over the channel layer, from any process.

``rooms.events`` makes the frames and decides when they leave (after commit); this module carries
them: one ``group_send`` per frame to the Space's group, which holds one relay per web process
(``rooms.relay``). Each frame is serialised once here; every socket receives that very text.
"""

import asyncio
import json
import logging
import os
import threading
from contextlib import contextmanager

import redis
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

logger = logging.getLogger(__name__)

# What Redis (the channel layer, presence) raises when it is down or restarting.
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ConnectionError, OSError)

EVERYONE = "everyone"
STAFF = "staff"  # host and co-hosts only

_captured: list[list[dict]] = []

def space_group(space_id: int) -> str:
    """Channel-layer group of a Space: the relay of every process with sockets in it (built from
    the id, never from user text). Staff-only frames travel in it too, marked with their audience;
    the relays hand them to host and co-host sockets only (rooms/relay.py)."""
    return f"space.{space_id}"


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
    except (TypeError, ValueError):
        logger.exception("Could not serialise %s for %s", frame.get("type"), group)
        return
    message = {"type": "space.event", "frame": frame, "text": text, "audience": audience}
    for attempt in (1, 2):
        try:
            _publisher.run(layer.group_send(group, message))
            return
        except TimeoutError as error:
            # Redis does not answer at all: a second try would only hold the caller longer.
            logger.warning("Could not publish %s to %s: %s", frame.get("type"), group, error or "timed out")
            return
        except REDIS_ERRORS as error:
            # After a Redis restart the first command on a pooled connection fails (the
            # connection is stale); the pool has dropped it, so one more try gets a fresh one.
            if attempt == 1:
                continue
            logger.warning("Could not publish %s to %s: %s", frame.get("type"), group, error)
        except Exception:
            logger.exception("Could not publish %s to %s", frame.get("type"), group)
            return
    # The change is committed; clients that miss this frame notice the gap in seq (at the latest
    # from the relays' seq frames) and resync.


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


@contextmanager
def capture():
    """Collect the frames sent while the block runs (for tests)."""
    sink: list[dict] = []
    _captured.append(sink)
    try:
        yield sink
    finally:
        _captured.remove(sink)
