"""ASGI middleware for the websocket of a Space."""

from importlib import import_module

from channels.auth import get_user
from channels.middleware import BaseMiddleware
from channels.security.websocket import AllowedHostsOriginValidator
from channels.sessions import CookieMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from spaces.outages import DatabaseOutageWebsocketMiddleware


def websocket_stack(inner):
    """What every websocket passes before its consumer: the origin check, the database-outage
    guard, cookies, then the session and the user (``bench/floor_apps.py`` measures this same
    stack around a bare consumer)."""
    return AllowedHostsOriginValidator(DatabaseOutageWebsocketMiddleware(CookieMiddleware(WebsocketSessionMiddleware(inner))))


class WebsocketSessionMiddleware(BaseMiddleware):
    """Put the visitor's Django session in ``scope["session"]`` and their user in
    ``scope["user"]`` (after ``CookieMiddleware``); it stands for Channels' ``SessionMiddleware``
    and ``AuthMiddleware`` together.

    Channels' ``SessionMiddleware`` also wraps ``send`` to save the session on HTTP responses;
    a websocket sends none, yet that wrapper inspects the session on every frame sent, which is
    a noticeable share of a broadcast to thousands of sockets. Here nothing wraps ``send``, and
    a consumer that changes the session saves it itself (``rooms.consumers``).

    Channels' ``AuthMiddleware`` looks the user up in a worker thread for every socket. A socket
    without a session cookie (a signed-out listener with the share page's ticket, a page viewer)
    has no user to look up: it is anonymous at once, with no thread hop, which is most of a
    crowd's arrivals. With a cookie the user is read as ``AuthMiddleware`` reads it (the session's
    auth hash checked), in one hop.
    """

    def __init__(self, inner):
        super().__init__(inner)
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        if "cookies" not in scope:
            raise ValueError("WebsocketSessionMiddleware needs CookieMiddleware above it.")
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        # The store loads lazily: a socket that never reads its session costs no query.
        scope = dict(scope, session=self.session_store(session_key))
        if "user" not in scope:
            scope["user"] = await get_user(scope) if session_key else AnonymousUser()
        return await super().__call__(scope, receive, send)
