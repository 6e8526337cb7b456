"""Log lines that say which Space they are about: ``space=<code>`` on every record emitted while
a request, a websocket or a Celery task works on one; JSON lines with ``LOG_FORMAT=json``.

The code is held in a context variable, so it follows the work across threads and coroutines
(asgiref and Channels copy the context) and never leaks into another request. It is set by
``SpaceLogMiddleware`` for every page and API view whose URL names a Space (``<code>``), by the
websocket consumer (rooms.consumers) for the life of a socket, and around Celery tasks that take
a ``space_id`` (``task_started``, connected in spaces.celery).
"""

import contextvars
import inspect
import json
import logging
import re
from datetime import UTC, datetime

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.signals import request_finished
from django.dispatch import receiver
from django.urls import Resolver404, resolve

space_code: contextvars.ContextVar[str | None] = contextvars.ContextVar("space_code", default=None)
# Codes come from URLs: anything else than a code's characters is not written into a log line.
CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")


def use_space(code: str | None) -> contextvars.Token:
    """Name this Space in what is logged from here on (in this context); returns the token to
    reset it with."""
    return space_code.set(code if code and CODE.fullmatch(code) else None)


class SpaceFilter(logging.Filter):
    """Adds ``record.space`` (the code or ``None``) and ``record.space_tag`` (`` space=<code>``
    or nothing) for the formatters. Put on handlers, it sees records of every logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        code = getattr(record, "space", None) or space_code.get()
        record.space = code
        record.space_tag = f" space={code}" if code else ""
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, space when known, and the
    traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "space", None):
            line["space"] = record.space
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _code_of(request) -> str | None:
    try:
        return resolve(request.path_info).kwargs.get("code")
    except Resolver404:
        return None


class SpaceLogMiddleware:
    """Names the Space of a request whose URL has one (``<code>``), or none, for the rest of the
    request: Django's own line about a 4xx answer (``django.request``) is written after every
    middleware returned, so the code stays set until the request is finished. Under ASGI each
    request has a context of its own; a thread that serves requests one after the other (WSGI,
    the test client) is reset at ``request_finished``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        use_space(_code_of(request))
        return self.get_response(request)

    async def _acall(self, request):
        use_space(_code_of(request))
        return await self.get_response(request)


@receiver(request_finished, dispatch_uid="spaces.logs.request_finished")
def _request_finished(**_):
    space_code.set(None)


def _space_id(task, args, kwargs) -> int | None:
    try:
        return inspect.signature(task.run).bind_partial(*args, **kwargs).arguments.get("space_id")
    except (TypeError, ValueError):
        return None


def task_started(task=None, args=(), kwargs=None, **_):
    """Celery's ``task_prerun``: a task with a ``space_id`` logs with that Space's code."""
    space_id = _space_id(task, args or (), kwargs or {})
    code = None
    if space_id is not None:
        from rooms.models import Space

        try:
            code = Space.objects.filter(pk=space_id).values_list("code", flat=True).first()
        except Exception:
            code = None
    task.request.space_code_token = use_space(code)


def task_finished(task=None, **_):
    token = getattr(task.request, "space_code_token", None)
    if token is not None:
        try:
            space_code.reset(token)
        except (ValueError, RuntimeError):
            space_code.set(None)
