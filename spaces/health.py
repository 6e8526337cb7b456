"""``/healthz``: is every part of Spaces up? For load balancers, uptime checks and people.

    {"status": "ok" | "degraded" | "down",
     "checks": {"database": ..., "redis": ..., "janus": ..., "worker": ..., "beat": ...}}

Each check is ``"ok"``, ``"down"`` (no answer, or none in time), ``"stale"`` (a heartbeat older
than ``SPACES_HEARTBEAT_STALE``), ``"disabled"`` (Janus, with ``JANUS_ENABLED=0``) or
``"unknown"`` (heartbeats, when Redis cannot be read). The status is ``down`` when the database
or Redis is (nothing works without them), ``degraded`` when anything else is not ok, and the
answer is 200 only when it is ``ok``, 503 otherwise. No authentication, nothing secret in it.

Heartbeats: Celery beat sends ``spaces.celery.heartbeat_task`` every ``SPACES_HEARTBEAT_INTERVAL``
seconds with the moment it sent it (``spaces.celery.Scheduler``); the worker that runs it records
that moment as "beat last seen" and its own clock as "worker last seen", in the cache (Redis).
"""

import time

import redis
import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

WORKER_SEEN = "health:worker-seen"
BEAT_SEEN = "health:beat-seen"
# Probes answer in well under a second when the part is up; a part slower than this is down.
TIMEOUT = 2.0
CORE = ("database", "redis")


def heartbeat_record(sent_at: float | None) -> None:
    """Run by the heartbeat task on a worker: the worker is seen now, the beat when it sent it.
    Neither goes back in time when heartbeats are run out of order."""
    now = time.time()
    seen = {WORKER_SEEN: now, BEAT_SEEN: min(sent_at if sent_at is not None else now, now)}
    previous = cache.get_many(list(seen))
    cache.set_many({key: max(value, previous.get(key) or 0.0) for key, value in seen.items()}, timeout=None)


def heartbeat_ages(now: float | None = None) -> dict[str, float | None]:
    """Seconds since the worker and the beat were last seen; ``None`` if never."""
    now = time.time() if now is None else now
    seen = cache.get_many([WORKER_SEEN, BEAT_SEEN])
    return {
        name: (max(0.0, now - seen[key]) if seen.get(key) is not None else None)
        for name, key in (("worker", WORKER_SEEN), ("beat", BEAT_SEEN))
    }


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return "down"
    return "ok"


def check_redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        return "ok" if client.ping() else "down"
    except redis.RedisError:
        return "down"
    finally:
        client.close()


def check_janus() -> str:
    """Janus's ``info`` request on its HTTP API (``JANUS["URL"]``), which needs no token."""
    if not settings.JANUS["ENABLED"]:
        return "disabled"
    try:
        response = requests.post(
            settings.JANUS["URL"], json={"janus": "info", "transaction": "healthz"}, timeout=TIMEOUT
        )
        answer = response.json()
    except (requests.RequestException, ValueError):
        return "down"
    return "ok" if response.ok and isinstance(answer, dict) and answer.get("janus") == "server_info" else "down"


def check_heartbeats() -> dict[str, str]:
    try:
        ages = heartbeat_ages()
    except Exception:
        return {"worker": "unknown", "beat": "unknown"}
    stale = settings.SPACES_HEARTBEAT_STALE
    return {name: "down" if age is None else ("ok" if age <= stale else "stale") for name, age in ages.items()}


def report() -> dict:
    checks = {"database": check_database(), "redis": check_redis(), "janus": check_janus(), **check_heartbeats()}
    if any(checks[name] != "ok" for name in CORE):
        status = "down"
    elif all(value in ("ok", "disabled") for value in checks.values()):
        status = "ok"
    else:
        status = "degraded"
    return {"status": status, "checks": checks}


@never_cache
def healthz(request):
    body = report()
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
