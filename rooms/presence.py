"""Who is connected, kept in Redis, so that presence survives reloads and process crashes.

Being connected to a live Space is being present. Each open websocket is a member
``"<participant pk>|<channel name>"`` of the sorted set ``presence:<space pk>`` whose score is the
moment it expires: a connected socket pushes its expiry forward every ``HEARTBEAT`` seconds; a
closed one is given ``SPACES_PRESENCE_GRACE`` to come back (a page reload) before it expires. A
participant leaves (``services.space_leave``) when the last of their members has expired, which is
checked by the disconnecting process after the grace, and by a periodic sweep for sockets whose
process died. Several tabs of one person are several members: they count once.
"""

import asyncio
import logging
import time
import weakref

import redis
import redis.asyncio as aredis
from django.conf import settings

logger = logging.getLogger(__name__)

HEARTBEAT = 20  # seconds between a live socket's expiry refreshes
CONNECTED_TTL = 3 * HEARTBEAT  # a socket whose process died expires after this
SPACES_KEY = "presence:spaces"

# An asyncio Redis client belongs to the event loop it was made in.
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis]" = weakref.WeakKeyDictionary()
_sync_client: redis.Redis | None = None


def _prefix() -> str:
    return settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "spaces")


def space_key(space_id: int) -> str:
    return f"{_prefix()}:presence:{space_id}"


def spaces_key() -> str:
    return f"{_prefix()}:{SPACES_KEY}"


def member(participant_id: int, channel_name: str) -> str:
    return f"{participant_id}|{channel_name}"


def async_client() -> aredis.Redis:
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        # A blocking pool: a burst of connects waits for a connection instead of failing.
        pool = aredis.BlockingConnectionPool.from_url(settings.REDIS_URL, max_connections=64, timeout=30)
        client = _async_clients[loop] = aredis.Redis(connection_pool=pool)
    return client


def sync_client() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(settings.REDIS_URL)
    return _sync_client


async def connection_open(space_id: int, participant_id: int, channel_name: str) -> None:
    client = async_client()
    async with client.pipeline(transaction=False) as pipe:
        pipe.zadd(space_key(space_id), {member(participant_id, channel_name): time.time() + CONNECTED_TTL})
        pipe.sadd(spaces_key(), space_id)
        await pipe.execute()


async def connection_alive(space_id: int, participant_id: int, channel_name: str) -> None:
    await async_client().zadd(
        space_key(space_id), {member(participant_id, channel_name): time.time() + CONNECTED_TTL}, xx=True
    )


async def connection_closed(space_id: int, participant_id: int, channel_name: str) -> None:
    grace = settings.SPACES_PRESENCE_GRACE.total_seconds()
    await async_client().zadd(
        space_key(space_id), {member(participant_id, channel_name): time.time() + grace}, xx=True
    )


def expire(space_id: int, *, now: float | None = None) -> set[int]:
    """Drop expired members of one Space; return the participants with no member left."""
    client = sync_client()
    key = space_key(space_id)
    now = time.time() if now is None else now
    expired = client.zrangebyscore(key, "-inf", now)
    if not expired:
        return set()
    client.zrem(key, *expired)
    candidates = {int(m.decode().split("|", 1)[0]) for m in expired}
    remaining = {int(m.decode().split("|", 1)[0]) for m in client.zrange(key, 0, -1)}
    if not remaining:
        client.srem(spaces_key(), space_id)
    return candidates - remaining


def connected_participants(space_id: int) -> set[int]:
    """Participants with at least one member that has not expired."""
    members = sync_client().zrangebyscore(space_key(space_id), time.time(), "+inf")
    return {int(m.decode().split("|", 1)[0]) for m in members}


def spaces_with_connections() -> list[int]:
    return [int(s) for s in sync_client().smembers(spaces_key())]


def forget_space(space_id: int) -> None:
    client = sync_client()
    client.delete(space_key(space_id))
    client.srem(spaces_key(), space_id)
