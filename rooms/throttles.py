"""How often a client or a person may do something, counted in Redis so that every process (and
every socket of one person) shares the count.

A ``Limit`` is a fixed window (joins a minute): the first hit of a window starts it and sets its
expiry, in one atomic script, so a burst spread over several processes is counted exactly. A
``Bucket`` is a token bucket (reactions: a rate with bursts), like the per-socket one of
``rooms.limits`` but shared by all sockets of a person or an address. A refusal says how long to
wait: the ``Retry-After`` of a 429, the ``retry_after`` of an error frame.
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings

from . import limits, presence

# INCR and, on the first hit, PEXPIRE: one round trip, and no window left without an expiry.
HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""

# A token bucket (rate per second, burst): refill for the time since the last take, then take one.
# Returns {1, 0} when allowed, else {0, milliseconds until a token is there}.
BUCKET_SCRIPT = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
if allowed == 1 then return {1, 0} end
return {0, math.ceil((1 - tokens) / rate * 1000)}
"""

# A person's open sockets in one Space: members are connection ids scored by when they expire.
# Drops the expired ones, then admits this one if fewer than the cap remain.
SOCKET_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window: float  # seconds


def _key(limit: "Limit | Bucket", subject: str) -> str:
    return f"{presence._prefix()}:throttle:{limit.name}:{subject}"


limit_key = _key  # for scripts that count a hit along with other work (rooms.guests)


def hit(limit: Limit, subject: str) -> float:
    """Count one more hit of ``subject`` (a client address, a person): 0.0 when allowed, else the
    seconds until the window ends."""
    count, ttl = presence.sync_client().eval(HIT_SCRIPT, 1, _key(limit, subject), int(limit.window * 1000))
    return 0.0 if int(count) <= limit.limit else max(int(ttl), 1) / 1000


async def ahit(limit: Limit, subject: str) -> float:
    """``hit`` from an event loop."""
    count, ttl = await presence.async_client().eval(HIT_SCRIPT, 1, _key(limit, subject), int(limit.window * 1000))
    return 0.0 if int(count) <= limit.limit else max(int(ttl), 1) / 1000


@dataclass(frozen=True)
class Bucket:
    name: str
    rate: float  # per second, on average
    burst: int  # at once


def take(*takes: tuple[Bucket, str]) -> tuple[Bucket, float] | None:
    """Take one from each ``(bucket, subject)`` in one round trip: None when all allowed, else the
    first bucket that refused and the seconds until it has one again."""
    now = time.time()
    pipe = presence.sync_client().pipeline(transaction=False)
    for bucket, subject in takes:
        pipe.eval(BUCKET_SCRIPT, 1, _key(bucket, subject), bucket.rate, bucket.burst, now)
    for (bucket, _), (allowed, wait_ms) in zip(takes, pipe.execute()):
        if not int(allowed):
            return bucket, max(int(wait_ms), 1) / 1000
    return None


def retry_after(seconds: float) -> int:
    """Whole seconds for a ``Retry-After`` header: never 0 for a refusal."""
    return max(1, math.ceil(seconds))


def joins_per_client() -> Limit:
    return Limit("join", settings.SPACES_JOINS_PER_CLIENT, 60.0)


def reactions_per_person() -> Bucket:
    """A person's reactions over all their sockets: what one socket may send (rooms.limits)."""
    return Bucket("reaction-person", settings.SPACES_REACTIONS_PER_PERSON, limits.REACTIONS_BURST)


def reactions_per_client() -> Bucket:
    """Reactions from one client address, whoever sends them."""
    rate = settings.SPACES_REACTIONS_PER_CLIENT
    return Bucket("reaction-client", rate, rate * limits.REACTIONS_BURST // limits.REACTIONS_PER_SECOND)


# --- sockets per person ---------------------------------------------------------------------------


def socket_admit(space_id: int, participant_id: int, connection_id: str, *, now: float) -> bool:
    """Count one more open socket of a person in a Space, unless they already have
    ``SPACES_SOCKETS_PER_PERSON`` open. Sockets whose process died stop counting once they expire
    (``presence.CONNECTED_TTL`` after the last heartbeat of their relay)."""
    return bool(
        presence.sync_client().eval(
            SOCKET_SCRIPT,
            1,
            presence.sockets_key(space_id, participant_id),
            now,
            now + presence.CONNECTED_TTL,
            connection_id,
            settings.SPACES_SOCKETS_PER_PERSON,
            presence.CONNECTED_TTL * 2,
        )
    )


async def socket_release(space_id: int, participant_id: int, connection_id: str) -> None:
    await presence.async_client().zrem(presence.sockets_key(space_id, participant_id), connection_id)
