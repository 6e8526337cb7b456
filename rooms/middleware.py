"""ASGI middleware for the websocket of a Space."""

from importlib import import_module

from channels.auth import get_user
from channels.security.websocket import AllowedHostsOriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie

from spaces import outages


def websocket_stack(inner):
    """What every websocket passes before its consumer: the origin check, then the cookies, the
    session and the user (``bench/floor_apps.py`` measures this same stack around a bare
    consumer)."""
    return AllowedHostsOriginValidator(WebsocketSessionMiddleware(inner))


class WebsocketSessionMiddleware:
    """Put the visitor's cookies in ``scope["cookies"]``, their Django session in
    ``scope["session"]`` and their user in ``scope["user"]``: what Channels' ``CookieMiddleware``,
    ``SessionMiddleware`` and ``AuthMiddleware`` do together, for a websocket, cheaper.

    - One copy of the scope, not one per layer: each layer's copy lives as long as the socket
      (the coroutine of every layer waits for the consumer to finish), for thousands of sockets.
    - Nothing wraps ``send``: Channels' ``SessionMiddleware`` does, to save the session on HTTP
      responses; a websocket sends none, yet that wrapper inspects the session on every frame
      sent, a noticeable share of a broadcast to thousands of sockets. A consumer that changes
      the session saves it itself (``rooms.consumers``).
    - No thread hop without a session cookie: ``AuthMiddleware`` looks the user up in a worker
      thread for every socket, but a socket without a session (a signed-out listener with the
      share page's ticket, a page viewer) has no user to look up, and that is most of a crowd's
      arrivals. With a cookie the user is read as ``AuthMiddleware`` reads it (the session's
      auth hash checked), in one hop.
    - The database not answering while the user is read refuses the socket with an error frame
      and 4503 (``spaces.outages``), not an HTTP 500. This is the only database work before the
      consumer accepts; after that, the consumer answers outages itself.
    """

    def __init__(self, inner):
        self.inner = inner
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        if "headers" not in scope:
            raise ValueError("WebsocketSessionMiddleware takes websocket scopes (with headers).")
        cookies = {}
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        # The store loads lazily: a socket that never reads its session costs no query.
        scope = dict(scope, cookies=cookies, session=self.session_store(session_key))
        if "user" not in scope:
            try:
                scope["user"] = await get_user(scope) if session_key else AnonymousUser()
            except outages.DATABASE_ERRORS as error:
                return await outages.refuse_websocket(scope, send, error)
        return await self.inner(scope, receive, send)
