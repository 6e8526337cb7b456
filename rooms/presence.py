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
LEASE = "api"  # the connection id of an API join's presence (rooms.services.space_join)

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


def sockets_key(space_id: int, participant_id: int | str) -> str:
    """One person's open sockets in a Space (connection ids scored by expiry), which
    ``rooms.throttles`` caps; renewed with their presence. Keyed by a signed-in person's account
    (``u<user pk>``: watching or present) or a signed-out listener's ``g<uid>``."""
    return f"{space_key(space_id)}:sockets:{participant_id}"


def member(participant_id: int, connection_id: str) -> str:
    return f"{participant_id}|{connection_id}"


def _keys(members) -> set[str]:
    """Whose the members are: a row's primary key, or ``g<uid>`` for a signed-out listener who
    lives in Redis only (``rooms.guests``)."""
    return {m.split(b"|", 1)[0].decode() for m in members}


def _participant_ids(members) -> set[int]:
    return {int(key) for key in _keys(members) if key.isdigit()}


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


def connection_open(space_id: int, participant_id: int | str, connection_id: str) -> None:
    """Count a socket as present (from the thread where the consumer joins the Space)."""
    key = space_key(space_id)
    pipe = sync_client().pipeline(transaction=False)
    pipe.zadd(key, {member(participant_id, connection_id): time.time() + CONNECTED_TTL})
    pipe.expire(key, KEY_TTL)
    pipe.sadd(spaces_key(), space_id)
    pipe.execute()


def lease(space_id: int, participant_id: int, seconds: float) -> None:
    """Count someone present without a socket for ``seconds`` (a signed-out listener who joined
    through the API): a member that expires like a closed socket, renewed by joining again."""
    key = space_key(space_id)
    pipe = sync_client().pipeline(transaction=False)
    pipe.zadd(key, {member(participant_id, LEASE): time.time() + seconds})
    pipe.expire(key, KEY_TTL)
    pipe.sadd(spaces_key(), space_id)
    pipe.execute()


def connection_drop(space_id: int, participant_id: int, connection_id: str) -> None:
    """Forget a socket that was counted but then refused (no grace: it never arrived)."""
    sync_client().zrem(space_key(space_id), member(participant_id, connection_id))


def unique_key(space_id: int) -> str:
    return f"{space_key(space_id)}:listeners-seen"


def listener_seen(space_id: int, participant_id: int) -> None:
    """Count a person among a Space's different listeners (a HyperLogLog: 12 KB whatever the
    audience, about 1 % off past a few hundred, exact below)."""
    pipe = sync_client().pipeline(transaction=False)
    pipe.pfadd(unique_key(space_id), participant_id)
    pipe.expire(unique_key(space_id), KEY_TTL)
    pipe.execute()


def unique_listeners(space_id: int) -> int:
    return sync_client().pfcount(unique_key(space_id))


def speaking_key(space_id: int) -> str:
    return f"{space_key(space_id)}:speaking"


def speaking_mark(space_id: int, participant_uid: str, talking: bool) -> None:
    """Remember who is talking now, so that a snapshot shows it to someone who arrives while a
    speaker talks (Janus says "talking" once at the start and "stopped-talking" at the end)."""
    key = speaking_key(space_id)
    pipe = sync_client().pipeline(transaction=False)
    if talking:
        pipe.sadd(key, participant_uid)
        pipe.expire(key, KEY_TTL)
    else:
        pipe.srem(key, participant_uid)
    pipe.execute()


def speaking_now(space_id: int) -> set[str]:
    """The uids talking now; nobody when Redis does not answer (a snapshot is never refused for it)."""
    try:
        return {uid.decode() for uid in sync_client().smembers(speaking_key(space_id))}
    except redis.RedisError:
        return set()


def open_sockets(space_id: int, participant_id: int) -> int:
    """How many sockets a person has open in a Space (``rooms.throttles`` counts them)."""
    return sync_client().zcount(sockets_key(space_id, participant_id), time.time(), "+inf")


async def connections_alive(space_id: int, members: list[tuple]) -> None:
    """Push forward the expiry of a process's open sockets in a Space, adding any that are
    missing: a Redis restarted empty gets them all back on the next heartbeat. (Only sockets of a
    live Space are passed: an ended Space is not brought back.)

    A member is ``(presence key, connection id)``, or ``(presence key, connection id, slot key)``
    when the socket counts among its person's sockets (``sockets_key``) under another key (a
    signed-in person's account); a presence key of None is a socket that only watches: its slot
    is renewed, it makes nobody present."""
    if not members:
        return
    expires = time.time() + CONNECTED_TTL
    key = space_key(space_id)
    present = {member(m[0], m[1]): expires for m in members if m[0] is not None}
    async with async_client().pipeline(transaction=False) as pipe:
        if present:
            pipe.zadd(key, present)
            pipe.expire(key, KEY_TTL)
            pipe.sadd(spaces_key(), space_id)
        for m in members:
            slot = m[2] if len(m) > 2 else m[0]
            pipe.zadd(sockets_key(space_id, slot), {m[1]: expires})
            pipe.expire(sockets_key(space_id, slot), 2 * CONNECTED_TTL)
        await pipe.execute()


async def connection_closed(space_id: int, participant_id: int, connection_id: str) -> float:
    """Give a closed socket the grace period to come back; returns when it expires. Added even
    when missing (Redis restarted since the socket opened), so that its person still leaves."""
    expires = time.time() + settings.SPACES_PRESENCE_GRACE.total_seconds()
    key = space_key(space_id)
    async with async_client().pipeline(transaction=False) as pipe:
        pipe.zadd(key, {member(participant_id, connection_id): expires})
        pipe.expire(key, KEY_TTL)
        pipe.sadd(spaces_key(), space_id)
        await pipe.execute()
    return expires


def expire(space_id: int, *, now: float | None = None) -> set[str]:
    """Drop expired members of one Space; return the keys (``_keys``) with no member left."""
    now = time.time() if now is None else now
    expired, remaining = sync_client().eval(EXPIRE_SCRIPT, 2, space_key(space_id), spaces_key(), now, space_id)
    return _keys(expired) - _keys(remaining)


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
