"""What people are told while the database (or Redis) does not answer (docs/OPERATIONS.md,
"Database outages"; docs/RELIABILITY.md).

- the API (every ``/api/`` path): 503 ``{"detail": ..., "code": "database_unavailable"}`` with
  ``Retry-After`` (DRF views through ``rooms.api.errors.exception_handler``, anything else through
  ``DatabaseOutageMiddleware``);
- pages: a plain 503 "try again" page, ``templates/503.html``, rendered without the request, so
  without context processors and without looking up the user: nothing in it touches the database;
- websockets: ``refuse_websocket`` here (from ``rooms.middleware``) and ``rooms.consumers`` answer an error
  frame with that code and close with 4503 (try again later; the browser reconnects).

Each refusal is one warning line without a traceback: an outage must not bury the log.
A database that comes back is used at once: ``CONN_HEALTH_CHECKS`` replaces a broken persistent
connection before its next query.
"""

import json
import logging

import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import get_template

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
CODE = "database_unavailable"
DETAIL = "The database is not answering; try again in a moment."
BODY = {"detail": DETAIL, "code": CODE}
RETRY_AFTER = 5
# Redis (presence, counts of signed-out listeners, throttles) does not answer: the same 503,
# with its own code (docs/RELIABILITY.md).
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
REDIS_CODE = "realtime_unavailable"
REDIS_DETAIL = "Live updates are not available right now; try again in a moment."
REDIS_BODY = {"detail": REDIS_DETAIL, "code": REDIS_CODE}
# Websocket close code: 1013 ("Try Again Later") is the standard one, but a server may only send
# 1000 or 3000-4999 (autobahn, under daphne, refuses others); 4503 follows the consumer's 4003,
# 4004 (HTTP's status + 4000). Browsers reconnect after it (static/js/socket.js).
CLOSE_TRY_AGAIN = 4503


def is_api(path: str) -> bool:
    return path.startswith("/api/")


def note(where: str, error: Exception) -> None:
    logger.warning("Database unavailable (%s): %s", where, str(error).strip().splitlines()[0] if str(error) else type(error).__name__)


def api_response(body: dict = BODY) -> JsonResponse:
    return JsonResponse(body, status=503, headers={"Retry-After": str(RETRY_AFTER)})


def page_response(detail: str = DETAIL) -> HttpResponse:
    html = get_template("503.html").render({"detail": detail, "retry_after": RETRY_AFTER})
    return HttpResponse(html, status=503, headers={"Retry-After": str(RETRY_AFTER), "Cache-Control": "no-store"})


class DatabaseOutageMiddleware:
    """A database error a view (or its template, or the session or user it loads) raises becomes
    the 503 of its kind instead of a 500 with a traceback in the log."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, REDIS_ERRORS):
            logger.warning("Redis unavailable (%s): %s", request.path, exception)
            return api_response(REDIS_BODY) if is_api(request.path) else page_response(REDIS_DETAIL)
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        note(request.path, exception)
        return api_response() if is_api(request.path) else page_response()


async def refuse_websocket(scope, send, error: Exception) -> None:
    """A database error before a websocket's consumer accepted it (loading its session and user,
    ``rooms.middleware``): refuse with an error frame and 4503, not an HTTP 500."""
    note(scope.get("path", "websocket"), error)
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"type": "error", "data": BODY})})
    await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN})
