"""Who is connected, kept in Redis, so that presence survives reloads and process crashes.

Being connected to a live Space is being present. Each open websocket is a member
``"<participant pk>|<connection id>"`` of the sorted set ``presence:<space pk>`` whose score is
the moment it expires: the relay of each process pushes the expiry of its sockets forward every
``HEARTBEAT`` seconds (one command for all of them); a closed socket is given
``SPACES_PRESENCE_GRACE`` to come back (a page reload) before it expires. A participant leaves
(``services.space_leave``) when the last of their members has expired, which the process where a
socket closed checks after the grace, and a periodic sweep checks for sockets whose process died
(they expire ``CONNECTED_TTL`` after its last heartbeat). Several tabs of one person are several
members: they count once.
"""

import asyncio
import time
import weakref

import redis
import redis.asyncio as aredis
from django.conf import settings

HEARTBEAT = 20  # seconds between a live socket's expiry refreshes
CONNECTED_TTL = 3 * HEARTBEAT  # a socket whose process died expires after this
KEY_TTL = 24 * 3600  # a Space's set outlives any gap between connections, then Redis drops it
SPACES_KEY = "presence:spaces"

# Drops the expired members of one Space and says which participants still have one, atomically,
# so that a socket opening meanwhile is either seen as remaining or not yet there to be expired.
EXPIRE_SCRIPT = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #expired == 0 then return {{}, {}} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local remaining = redis.call('ZRANGE', KEYS[1], 0, -1)
if #remaining == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return {expired, remaining}
"""

# An asyncio Redis client belongs to the event loop it was made in.
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aredis.Redis]" = weakref.WeakKeyDictionary()
_sync_client: redis.Redis | None = None


def _prefix() -> str:
    return settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "spaces")


def space_key(space_id: int) -> str:
    return f"{_prefix()}:presence:{space_id}"


def spaces_key() -> str:
    return f"{_prefix()}:{SPACES_KEY}"


def member(participant_id: int, connection_id: str) -> str:
    return f"{participant_id}|{connection_id}"


def _participant_ids(members) -> set[int]:
    return {int(m.split(b"|", 1)[0]) for m in members}


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


def connection_open(space_id: int, participant_id: int, connection_id: str) -> None:
    """Count a socket as present (from the thread where the consumer joins the Space)."""
    key = space_key(space_id)
    pipe = sync_client().pipeline(transaction=False)
    pipe.zadd(key, {member(participant_id, connection_id): time.time() + CONNECTED_TTL})
    pipe.expire(key, KEY_TTL)
    pipe.sadd(spaces_key(), space_id)
    pipe.execute()


async def connections_alive(space_id: int, members: list[tuple[int, str]]) -> None:
    """Push forward the expiry of a process's sockets in a Space. ``xx``: a member already
    dropped (the Space ended, or a sweep expired it) is not brought back."""
    if not members:
        return
    expires = time.time() + CONNECTED_TTL
    key = space_key(space_id)
    async with async_client().pipeline(transaction=False) as pipe:
        pipe.zadd(key, {member(p, c): expires for p, c in members}, xx=True)
        pipe.expire(key, KEY_TTL)
        await pipe.execute()


async def connection_closed(space_id: int, participant_id: int, connection_id: str) -> float:
    """Give a closed socket the grace period to come back; returns when it expires."""
    expires = time.time() + settings.SPACES_PRESENCE_GRACE.total_seconds()
    await async_client().zadd(space_key(space_id), {member(participant_id, connection_id): expires}, xx=True)
    return expires


def expire(space_id: int, *, now: float | None = None) -> set[int]:
    """Drop expired members of one Space; return the participants with no member left."""
    now = time.time() if now is None else now
    expired, remaining = sync_client().eval(EXPIRE_SCRIPT, 2, space_key(space_id), spaces_key(), now, space_id)
    return _participant_ids(expired) - _participant_ids(remaining)


def connected_participants(space_id: int) -> set[int]:
    """Participants with at least one member that has not expired."""
    return _participant_ids(sync_client().zrangebyscore(space_key(space_id), time.time(), "+inf"))


def connection_count(space_id: int) -> int:
    """Open or briefly closed sockets in a Space, all processes together."""
    return sync_client().zcard(space_key(space_id))


def spaces_with_connections() -> list[int]:
    return [int(s) for s in sync_client().smembers(spaces_key())]


def forget_space(space_id: int) -> None:
    client = sync_client()
    client.delete(space_key(space_id))
    client.srem(spaces_key(), space_id)
