"""ASGI middleware for the websocket of a Space."""

from importlib import import_module

from channels.middleware import BaseMiddleware
from django.conf import settings


class WebsocketSessionMiddleware(BaseMiddleware):
    """Put the visitor's Django session in ``scope["session"]`` (after ``CookieMiddleware``).

    Channels' ``SessionMiddleware`` also wraps ``send`` to save the session on HTTP responses;
    a websocket sends none, yet that wrapper inspects the session on every frame sent, which is
    a noticeable share of a broadcast to thousands of sockets. Here nothing wraps ``send``, and
    a consumer that changes the session saves it itself (``rooms.consumers``).
    """

    def __init__(self, inner):
        super().__init__(inner)
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope, receive, send):
        if "cookies" not in scope:
            raise ValueError("WebsocketSessionMiddleware needs CookieMiddleware above it.")
        session_key = scope["cookies"].get(settings.SESSION_COOKIE_NAME)
        # The store loads lazily: a socket that never reads its session costs no query.
        return await super().__call__(dict(scope, session=self.session_store(session_key)), receive, send)
