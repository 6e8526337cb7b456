"""What each daphne process keeps per live Space: one relay from the channel layer to its sockets.

A group message per socket would make the channel layer and Channels' per-consumer dispatch do
the fan-out, which costs a task wake-up and a trip to the database thread for every socket (about
half a millisecond each on a small machine, so 5,000 sockets took seconds). Instead one channel
per process per Space is in the Space's group; its relay receives each frame once and writes the
already serialised text to every local socket of that Space. The channel layer then carries one
message per process per event, whatever the size of the room.

The relay also renews what would otherwise expire: its membership of the group, and the presence
of its sockets' people (one Redis command for all of them, see ``rooms.presence``). It repairs
what a Redis restart loses (docs/RELIABILITY.md): once Redis answers again it rejoins the group,
puts its sockets back into presence and sends each of them a fresh snapshot, since frames
published meanwhile are gone. In a quiet Space it writes a ``seq`` frame now and then, carrying
the Space's current seq, so that a client which missed the last delta notices and resyncs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from typing import Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from spaces.backpressure import Broadcast

from . import presence, services
from .models import Space
from .publisher import EVERYONE, REDIS_ERRORS, space_group

logger = logging.getLogger(__name__)

# Yield to the event loop after this many socket writes, so that a broadcast to a huge room does
# not hold up handshakes and pings for its whole length.
WRITES_PER_TURN = 1000
# A closed socket whose presence could not be updated (Redis down) is retried this long.
CLOSE_RETRY_FOR = 600.0


class Socket(Protocol):
    """What the relay needs from a websocket consumer (rooms.consumers.SpaceConsumer)."""

    def presence_member(self) -> tuple[int, str] | None: ...

    async def deliver(self, frame: dict, text: str, audience: str) -> None: ...

    def resync(self) -> None:
        """Send this socket a fresh snapshot soon (frames may have been lost)."""


class SpaceRelay:
    def __init__(self, space_id: int):
        self.space_id = space_id
        self.sockets: set[Socket] = set()
        self.channel_layer = get_channel_layer()
        self.channel_name = ""
        self.started: asyncio.Future = asyncio.get_running_loop().create_future()
        self.tasks: list[asyncio.Task] = []
        self.last_frame_at = time.monotonic()
        # The highest seq that went by: a snapshot cached at a lower seq is out of date
        # (rooms.arrivals), since a socket added now would not get the frames in between.
        self.last_seq = 0

    async def start(self) -> None:
        try:
            self.channel_name = await self.channel_layer.new_channel("relay.")
            await self.channel_layer.group_add(space_group(self.space_id), self.channel_name)
        except BaseException as error:
            self.started.set_exception(error)
            self.started.exception()  # retrieved: only the sockets waiting on it need to see it
            raise
        try:
            row = await database_sync_to_async(_seq_and_state)(self.space_id)
            self.last_seq = row[0] if row else 0
        except Exception:
            self.last_seq = math.inf  # unknown: no cached snapshot is trusted until a frame says
        self.tasks = [
            asyncio.create_task(self.receive_forever()),
            asyncio.create_task(self.renew_forever()),
            asyncio.create_task(self.beat_forever()),
        ]
        self.started.set_result(True)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.channel_name:
            try:
                await self.channel_layer.group_discard(space_group(self.space_id), self.channel_name)
            except Exception:
                logger.warning("Could not leave the group of Space %s", self.space_id, exc_info=True)

    async def receive_forever(self) -> None:
        while True:
            try:
                message = await self.channel_layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Redis went away (or restarted, empty): frames published meanwhile are lost.
                logger.warning("Relay of Space %s could not receive (%s); recovering", self.space_id, error)
                await self.recover()
                continue
            await self.deliver(message)

    async def recover(self) -> None:
        """Wait until Redis answers, then rejoin the group, put the sockets back into presence and
        send each a fresh snapshot: whatever was published meanwhile is in it."""
        while True:
            await asyncio.sleep(1)
            try:
                await self.channel_layer.group_add(space_group(self.space_id), self.channel_name)
                break
            except Exception as error:
                logger.warning("Relay of Space %s still cannot reach Redis (%s)", self.space_id, error)
        await self.renew_presence()
        for socket in list(self.sockets):
            socket.resync()
        logger.info("Relay of Space %s recovered; resyncing %d sockets", self.space_id, len(self.sockets))

    async def deliver(self, message: dict) -> None:
        frame, audience = message["frame"], message.get("audience", EVERYONE)
        text = Broadcast(message["text"])  # framed once for all the sockets written directly
        self.last_frame_at = time.monotonic()
        seq = frame.get("seq")
        if isinstance(seq, int) and (seq > self.last_seq or self.last_seq == math.inf):
            self.last_seq = seq
        for written, socket in enumerate(list(self.sockets), start=1):
            try:
                # Each socket decides on staff-only frames: its role may be changing right now.
                await socket.deliver(frame, text, audience)
            except Exception:
                logger.exception("Could not deliver %s to a socket of Space %s", frame.get("type"), self.space_id)
            if written % WRITES_PER_TURN == 0:
                await asyncio.sleep(0)

    async def renew_forever(self) -> None:
        while True:
            await asyncio.sleep(presence.HEARTBEAT)
            await self.renew_presence()
            await self.rejoin_group()

    async def renew_presence(self) -> None:
        # Adds the members that are missing too: after a Redis restart, every open socket is back.
        members = [m for m in (s.presence_member() for s in list(self.sockets)) if m is not None]
        for attempt in (1, 2):
            try:
                await presence.connections_alive(self.space_id, members)
                return
            except REDIS_ERRORS as error:
                if attempt == 2:  # the first may meet a pooled connection Redis closed when it restarted
                    logger.warning("Could not renew presence in Space %s (%s)", self.space_id, error)
            except Exception:
                logger.exception("Could not renew presence in Space %s", self.space_id)
                return

    async def beat_forever(self) -> None:
        """In a quiet live Space, tell the sockets the current seq every ``SPACES_SEQ_BEAT``
        seconds: a client that lost the last delta (and would otherwise wait for the next event
        to notice) resyncs."""
        while True:
            beat = settings.SPACES_SEQ_BEAT
            await asyncio.sleep(max(0.1, self.last_frame_at + beat - time.monotonic()))
            if time.monotonic() - self.last_frame_at < beat:
                continue
            try:
                row = await database_sync_to_async(_seq_and_state)(self.space_id)
            except Exception as error:
                logger.warning("Could not read the seq of Space %s (%s)", self.space_id, error)
                self.last_frame_at = time.monotonic()
                continue
            if row is None or row[1] != Space.State.LIVE:
                self.last_frame_at = time.monotonic()
                continue
            frame = {"type": "seq", "seq": row[0]}
            await self.deliver({"frame": frame, "text": f'{{"type": "seq", "seq": {row[0]}}}'})

    async def rejoin_group(self) -> None:
        # Group membership expires in the channel layer (and vanishes if Redis restarts empty).
        try:
            await self.channel_layer.group_add(space_group(self.space_id), self.channel_name)
        except Exception:
            logger.warning("Could not renew the group membership of Space %s", self.space_id, exc_info=True)


def _seq_and_state(space_id: int) -> tuple[int, str] | None:
    return Space.objects.filter(pk=space_id).values_list("event_seq", "state").first()


# One registry per event loop: tests run each in a loop of its own, daphne runs one.
_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, SpaceRelay]] = weakref.WeakKeyDictionary()


def _registry() -> dict[int, SpaceRelay]:
    return _relays.setdefault(asyncio.get_running_loop(), {})


async def relay_add(space_id: int, socket: Socket) -> SpaceRelay:
    """Start relaying a Space's frames to ``socket`` (and start the Space's relay if needed)."""
    registry = _registry()
    relay = registry.get(space_id)
    if relay is None:
        relay = registry[space_id] = SpaceRelay(space_id)
        relay.sockets.add(socket)
        try:
            await relay.start()
        except BaseException:
            registry.pop(space_id, None)
            relay.sockets.discard(socket)
            raise
    else:
        relay.sockets.add(socket)
        try:
            await asyncio.shield(relay.started)
        except BaseException:
            relay.sockets.discard(socket)
            raise
    return relay


async def relay_remove(space_id: int, socket: Socket) -> None:
    """Stop relaying to ``socket``; the last socket of a Space in this process stops its relay."""
    registry = _registry()
    relay = registry.get(space_id)
    if relay is None:
        return
    relay.sockets.discard(socket)
    if not relay.sockets:
        # Out of the registry before any await: a socket arriving meanwhile starts a fresh relay.
        del registry[space_id]
        await relay.stop()


_expiry_checks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, int], asyncio.Task]] = (
    weakref.WeakKeyDictionary()
)


def expire_later(space_id: int, at: float) -> None:
    """Check a Space's presence once ``at`` (a ``time.time()``) has passed, so that whoever closed
    their last socket then leaves. Checks due within the same second share one run: 5,000 sockets
    closing at once cost a handful of checks, not 5,000."""
    due = math.ceil(at)
    checks = _expiry_checks.setdefault(asyncio.get_running_loop(), {})
    if (space_id, due) not in checks:
        checks[(space_id, due)] = asyncio.create_task(_expire_at(space_id, due, checks))


async def _expire_at(space_id: int, due: int, checks: dict) -> None:
    try:
        await asyncio.sleep(max(0.0, due - time.time()) + 0.05)
        await database_sync_to_async(services.space_presence_expire)(space_id=space_id)
    except asyncio.CancelledError:
        raise
    except REDIS_ERRORS as error:
        # Redis is down: the periodic sweep makes them leave once it is back.
        logger.warning("Presence expiry failed for Space %s (%s)", space_id, error)
    except Exception:
        # The periodic sweep will make them leave; a disconnect must never raise.
        logger.exception("Presence expiry failed for Space %s", space_id)
    finally:
        checks.pop((space_id, due), None)


_closing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[asyncio.Task]] = weakref.WeakKeyDictionary()


async def connection_closed(space_id: int, participant_id: int, connection_id: str) -> None:
    """A socket of a present person closed: give it the grace period, then check who left. Never
    raises: with Redis down, it is retried in the background until Redis answers (so the person
    still leaves), and the disconnect goes on."""
    try:
        expires = await presence.connection_closed(space_id, participant_id, connection_id)
    except Exception as error:
        logger.warning("Could not mark a socket of Space %s closed (%s); retrying", space_id, error)
        task = asyncio.create_task(_closed_when_redis_answers(space_id, participant_id, connection_id))
        tasks = _closing.setdefault(asyncio.get_running_loop(), set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return
    expire_later(space_id, expires)


async def _closed_when_redis_answers(space_id: int, participant_id: int, connection_id: str) -> None:
    deadline, delay = time.monotonic() + CLOSE_RETRY_FOR, 0.5
    while True:
        await asyncio.sleep(delay)
        try:
            expires = await presence.connection_closed(space_id, participant_id, connection_id)
        except Exception:
            if time.monotonic() > deadline:
                logger.error("Gave up marking a socket of Space %s closed: Redis did not come back", space_id)
                return
            delay = min(delay * 2, 5.0)
            continue
        expire_later(space_id, expires)
        return


def local_sockets(space_id: int) -> int:
    """How many sockets of a Space this process holds (for tests and diagnostics)."""
    relay = _registry().get(space_id)
    return len(relay.sockets) if relay else 0
