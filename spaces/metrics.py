"""``/metrics``: Prometheus metrics, in its text format.

- ``spaces_live``: live Spaces (the database, at scrape time);
- ``spaces_websockets_open``: websockets open to live Spaces, all processes together (presence
  members in Redis that have not expired: a socket closed less than the grace ago counts);
- ``spaces_joins_total``: people who joined a live Space (a person already present who joins
  again is not counted), incremented by ``rooms.services.space_join``;
- ``spaces_janus_up``: 1 when Janus answers its ``info`` request, 0 when not; absent when Janus
  is disabled;
- ``spaces_celery_lag_seconds``: seconds since a worker last ran the heartbeat (spaces.health);
  +Inf before any did.

daphne runs several processes (deploy/web), each with its own counters. With
``PROMETHEUS_MULTIPROC_DIR`` set (to an empty directory every process can write, emptied when the
service starts) they write them there and a scrape adds them up, whichever process answers it;
without it each process reports its own, which is right only with ``WEB_PROCESSES=1``.

Who may read them: requests straight from this machine (a loopback address, through no proxy),
and, when ``METRICS_TOKEN`` is set, requests with ``Authorization: Bearer <METRICS_TOKEN>``.
"""

import hmac
import logging
import math
import os
import time

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from spaces.clients import from_this_machine

logger = logging.getLogger(__name__)

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each process writes its counters there from the moment they are made.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

JOINS = Counter("spaces_joins", "People who joined a live Space (joining again while present is not counted).")


def live_spaces() -> int:
    from rooms.models import Space

    return Space.objects.filter(state=Space.State.LIVE).count()


def open_websockets() -> int:
    from rooms import presence

    now = time.time()
    pipe = presence.sync_client().pipeline(transaction=False)
    for space_id in presence.spaces_with_connections():
        pipe.zcount(presence.space_key(space_id), now, "+inf")
    return sum(pipe.execute())


def celery_lag() -> float:
    from spaces import health

    age = health.heartbeat_ages()["worker"]
    return math.inf if age is None else age


def janus_up() -> int | None:
    from spaces import health

    janus = health.check_janus()
    return None if janus == "disabled" else int(janus == "ok")


GAUGES = [
    ("spaces_live", "Live Spaces.", live_spaces),
    ("spaces_websockets_open", "Websockets open to live Spaces, all processes together.", open_websockets),
    ("spaces_janus_up", "Whether Janus answers (1) or not (0).", janus_up),
    ("spaces_celery_lag_seconds", "Seconds since a Celery worker last ran the heartbeat.", celery_lag),
]


class SpacesCollector:
    """The gauges, read from the database, Redis and Janus when Prometheus asks. One that cannot
    be read (its database or Redis down) is left out of the scrape; the others are still there."""

    def collect(self):
        for name, description, read in GAUGES:
            try:
                value = read()
            except Exception:
                logger.warning("metric %s could not be read", name, exc_info=True)
                continue
            if value is not None:
                yield GaugeMetricFamily(name, description, value=value)


def registry() -> CollectorRegistry:
    """The counters of every process (multiprocess mode) or of this one, and the gauges."""
    scraped = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(scraped)
    else:
        scraped.register(_ThisProcess())
    scraped.register(SpacesCollector())
    return scraped


class _ThisProcess:
    """Everything in prometheus-client's default registry: this process's counters, and its CPU,
    memory and garbage collector."""

    def collect(self):
        return REGISTRY.collect()


def allowed(request) -> bool:
    if from_this_machine(request):
        return True
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@never_cache
def metrics(request):
    if not allowed(request):
        return HttpResponse("Metrics are read from this machine or with the metrics token.\n", status=403,
                            content_type="text/plain")
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
