"""Signed-out listeners ("guests") live in Redis, not in PostgreSQL: listening costs no database
write and no lock on the Space, whatever the audience.

A guest is known by the listener id of their session or of the share page's ticket
(``Visitor.anon_id``). On the wire they are a listener like any other, under a participant id
derived from that id and the Space (``guest_uid``: stable across reloads, revealing nothing), so
the host can remove or block them: only then, because someone acted on them, are they written to
the database (``rooms.services.attendance.guest_materialise``).

Opening the page is watching: a guest's socket is counted as their presence (``presence``, member
``g<uid>|<connection>``) but not as listening. Pressing Listen (the join API) adds them to the
Space's listeners: ``…:guests`` holds their name and address, ``…:guests:at`` when they started
(its size is their count, its newest are named in snapshots), the HyperLogLog of different
listeners counts them, and the once-a-second ``participant.batch`` announces them. Each of these
steps is one atomic script, one round trip. Blocked signed-out listeners (by listener id and by
address) are mirrored from their rows into ``…:blocked``, rebuilt by the presence sweep.
"""

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from django.conf import settings

from . import presence, throttles

GUEST_PREFIX = "g"
# What ``arrive`` says.
ARRIVED, BLOCKED, THROTTLED, TOO_MANY_SOCKETS = 0, 1, 2, 3

# A socket of a guest arrives: refused if blocked (1), over the joins of its address (2, with
# the wait in ms) or over the sockets of one person (3); else counted as present (0), with what
# is kept of them if they listen already (a reconnect), so that their snapshot's ``me`` needs
# no second round trip.
ARRIVE_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 1 then
  return {1, 0}
end
if ARGV[12] ~= '' then
  local count = redis.call('INCR', KEYS[5])
  if count == 1 then redis.call('PEXPIRE', KEYS[5], ARGV[11]) end
  local ttl = redis.call('PTTL', KEYS[5])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[5], ARGV[11]); ttl = tonumber(ARGV[11]) end
  if count > tonumber(ARGV[12]) then return {2, ttl} end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[2], ARGV[5]) == false and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) then
  return {3, 0}
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[8])
redis.call('EXPIRE', KEYS[3], ARGV[9])
redis.call('SADD', KEYS[4], ARGV[10])
return {0, 0, redis.call('HGET', KEYS[6], ARGV[13]), redis.call('ZSCORE', KEYS[7], ARGV[13])}
"""

# A guest starts listening: {-1} if blocked, else {added, armed}: added is 1 the first time (then
# they are counted, announced in the next batch, and armed is 1 if this call must arm its flush).
# A guest with no socket open is given an expiring presence (the API's lease) instead.
LISTEN_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 1 then
  return {-1, 0}
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
local added = redis.call('ZADD', KEYS[3], 'NX', ARGV[5], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[8]); redis.call('EXPIRE', KEYS[3], ARGV[8])
if tonumber(ARGV[6]) > 0 and redis.call('ZCOUNT', KEYS[8], ARGV[5], '+inf') == 0 then
  redis.call('ZADD', KEYS[9], ARGV[6], ARGV[7])
  redis.call('EXPIRE', KEYS[9], ARGV[8])
  redis.call('SADD', KEYS[10], ARGV[9])
end
if added == 0 then return {0, 0} end
redis.call('PFADD', KEYS[4], ARGV[3]); redis.call('EXPIRE', KEYS[4], ARGV[8])
redis.call('RPUSH', KEYS[5], ARGV[10])
redis.call('SADD', KEYS[6], ARGV[9])
local armed = redis.call('SET', KEYS[7], 1, 'NX', 'PX', ARGV[11])
return {1, armed and 1 or 0}
"""

# A guest stops listening: {removed, armed}.
LEAVE_SCRIPT = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return {0, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
local armed = redis.call('SET', KEYS[5], 1, 'NX', 'PX', ARGV[4])
return {1, armed and 1 or 0}
"""


class Blocked(Exception):
    """This signed-out listener (or their address) is blocked from the Space."""


@dataclass(frozen=True)
class Guest:
    uid: str
    name: str
    anon_id: str
    address: str = ""
    at: float = 0.0

    @property
    def key(self) -> str:
        """Their presence key (a row's is its primary key)."""
        return presence_key(self.uid)

    @property
    def joined_at(self) -> datetime:
        return datetime.fromtimestamp(self.at or time.time(), tz=timezone.utc)


def guest_uid(space_id: int, anon_id: str) -> str:
    """The participant id of a signed-out listener in one Space: 12 URL-safe characters, like a
    row's, from a keyed hash (the listener id cannot be read back from it, nor guessed from it)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"guest:{space_id}:{anon_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()


def presence_key(uid: str) -> str:
    return f"{GUEST_PREFIX}{uid}"


def uid_of_key(key: str) -> str | None:
    """The guest uid of a presence key, or None for a row's key (a number)."""
    return key[len(GUEST_PREFIX):] if key.startswith(GUEST_PREFIX) else None


def info_key(space_id: int) -> str:
    return f"{presence.space_key(space_id)}:guests"


def at_key(space_id: int) -> str:
    return f"{presence.space_key(space_id)}:guests:at"


def blocked_key(space_id: int) -> str:
    return f"{presence.space_key(space_id)}:blocked"


def blocked_markers(anon_id: str, address: str) -> tuple[str, str]:
    """What the scripts look up: the listener id, and the address ("addr:-" when unknown, which
    is never blocked)."""
    return f"anon:{anon_id}", f"addr:{address}" if address else "addr:-"


def _block(pipe, space_id: int, people: list[tuple[str, str]]) -> None:
    """Queue on ``pipe`` the blocks of signed-out listeners ``(listener id, address)``."""
    markers = [m for anon_id, address in people for m in blocked_markers(anon_id, address) if m != "addr:-"]
    if markers:
        pipe.sadd(blocked_key(space_id), *markers)
        pipe.expire(blocked_key(space_id), presence.KEY_TTL)


def _arrive_args(space_id: int, guest: Guest, connection_id: str, join_limit, now: float | None) -> list:
    now = time.time() if now is None else now
    throttle_key = throttles.limit_key(join_limit, guest.address) if join_limit and guest.address else ""
    return [
        ARRIVE_SCRIPT, 7,
        blocked_key(space_id), presence.sockets_key(space_id, guest.key), presence.space_key(space_id),
        presence.spaces_key(), throttle_key or blocked_key(space_id), info_key(space_id), at_key(space_id),
        *blocked_markers(guest.anon_id, guest.address), now, now + presence.CONNECTED_TTL, connection_id,
        settings.SPACES_SOCKETS_PER_PERSON, presence.CONNECTED_TTL * 2,
        presence.member(guest.key, connection_id), presence.KEY_TTL, space_id,
        int(join_limit.window * 1000) if join_limit else 0, str(join_limit.limit) if throttle_key else "",
        guest.uid,
    ]


def _arrived(guest: Guest, code, wait, info=None, score=None) -> tuple[int, float, "Guest | None"]:
    return int(code), int(wait) / 1000, _guest(guest.uid, info) if info and score is not None else None


def arrive(space_id: int, guest: Guest, connection_id: str, *, join_limit, now: float | None = None) -> tuple[int, float, "Guest | None"]:
    """A guest's socket arrives: ``(ARRIVED, 0, them)`` when counted present, ``them`` being what
    ``get`` would return (None unless they listen already); else ``(BLOCKED, 0, None)``,
    ``(THROTTLED, seconds, None)`` over the join throttle of their address,
    ``(TOO_MANY_SOCKETS, 0, None)``."""
    return _arrived(guest, *presence.sync_client().eval(*_arrive_args(space_id, guest, connection_id, join_limit, now)))


async def aarrive(space_id: int, guest: Guest, connection_id: str, *, join_limit) -> tuple[int, float, "Guest | None"]:
    """``arrive`` from an event loop (a websocket's arrival, without a thread hop)."""
    return _arrived(guest, *await presence.async_client().eval(*_arrive_args(space_id, guest, connection_id, join_limit, None)))


def _listen_args(space_id: int, guest: Guest, batch: tuple[str, str, str, int], lease: float) -> list:
    now = time.time()
    batch_key, batching_key, armed_key, armed_ms = batch
    info = json.dumps({"name": guest.name, "anon": guest.anon_id, "addr": guest.address, "at": now})
    return [
        LISTEN_SCRIPT, 10,
        blocked_key(space_id), info_key(space_id), at_key(space_id), presence.unique_key(space_id),
        batch_key, batching_key, armed_key, presence.sockets_key(space_id, guest.key),
        presence.space_key(space_id), presence.spaces_key(),
        *blocked_markers(guest.anon_id, guest.address), guest.uid, info, now,
        now + lease if lease else 0, presence.member(guest.key, presence.LEASE), presence.KEY_TTL, space_id,
        json.dumps({"kind": "joined", "id": guest.uid}), armed_ms,
    ]


def _listened(added, armed) -> tuple[bool, bool]:
    if int(added) < 0:
        raise Blocked()
    return bool(int(added)), bool(int(armed))


def listen(space_id: int, guest: Guest, *, batch: tuple[str, str, str, int], lease: float = 0.0) -> tuple[bool, bool]:
    """Count a guest as listening; returns ``(added, armed)``: added the first time (then they
    are queued for the next batch, whose flush the caller arms when ``armed``). Raises ``Blocked``.
    ``lease``: seconds of presence for a guest with no socket open (an API join). ``batch``:
    (list key, batching key, armed key, its expiry in ms), from ``rooms.batches``."""
    return _listened(*presence.sync_client().eval(*_listen_args(space_id, guest, batch, lease)))


async def alisten(space_id: int, guest: Guest, *, batch: tuple[str, str, str, int]) -> tuple[bool, bool]:
    """``listen`` from an event loop (a socket's ``listening``), without a lease."""
    return _listened(*await presence.async_client().eval(*_listen_args(space_id, guest, batch, 0.0)))


def leave(space_id: int, uid: str, *, batch: tuple[str, str, str, int]) -> tuple[bool, bool]:
    """Stop counting a guest as listening; returns ``(removed, armed)`` as ``listen`` does."""
    batch_key, batching_key, armed_key, armed_ms = batch
    removed, armed = presence.sync_client().eval(
        LEAVE_SCRIPT, 5, info_key(space_id), at_key(space_id), batch_key, batching_key, armed_key,
        uid, json.dumps({"kind": "left", "id": uid}), space_id, armed_ms,
    )
    return bool(int(removed)), bool(int(armed))


def count(space_id: int) -> int:
    return presence.sync_client().zcard(at_key(space_id))


def listening(space_id: int, uids: list[str]) -> dict[str, "Guest"]:
    """Those of ``uids`` who listen now, with what is known of them."""
    if not uids:
        return {}
    pipe = presence.sync_client().pipeline(transaction=False)
    pipe.hmget(info_key(space_id), uids)
    pipe.zmscore(at_key(space_id), uids)
    infos, scores = pipe.execute()
    return {uid: _guest(uid, info) for uid, info, score in zip(uids, infos, scores) if info and score is not None}


def newest(space_id: int, limit: int) -> list[Guest]:
    """The guests who most recently started listening, newest first (all of them: ``limit`` -1)."""
    uids = [u.decode() for u in presence.sync_client().zrevrange(at_key(space_id), 0, limit - 1 if limit > 0 else -1)]
    found = listening(space_id, uids)
    return [found[u] for u in uids if u in found]


def get(space_id: int, uid: str) -> Guest | None:
    return listening(space_id, [uid]).get(uid)


async def aget(space_id: int, uid: str) -> Guest | None:
    """``get`` from an event loop."""
    async with presence.async_client().pipeline(transaction=False) as pipe:
        pipe.hget(info_key(space_id), uid)
        pipe.zscore(at_key(space_id), uid)
        info, score = await pipe.execute()
    return _guest(uid, info) if info and score is not None else None


def _guest(uid: str, info: bytes) -> Guest:
    data = json.loads(info)
    return Guest(uid=uid, name=data["name"], anon_id=data["anon"], address=data.get("addr") or "", at=data["at"])


def blocked_restore(space_id: int, blocked: list[tuple[str, str]]) -> None:
    """Rebuild a Space's blocked set from its rows of blocked signed-out listeners (``(listener
    id, address)``), after a Redis restart lost it; the presence sweep calls it."""
    pipe = presence.sync_client().pipeline(transaction=False)
    _block(pipe, space_id, blocked)
    pipe.execute()


def forget_space(space_id: int) -> None:
    presence.sync_client().delete(info_key(space_id), at_key(space_id), blocked_key(space_id))


def removed(space_id: int, uid: str, anon_id: str, address: str, *, blocked: bool) -> None:
    """A signed-out listener was removed (now a row that says so): no longer counted here, and,
    if blocked, kept out by listener id and address."""
    pipe = presence.sync_client().pipeline(transaction=False)
    pipe.zrem(at_key(space_id), uid)
    pipe.hdel(info_key(space_id), uid)
    if blocked:
        _block(pipe, space_id, [(anon_id, address)])
    pipe.execute()
