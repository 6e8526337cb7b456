"""ASGI applications for ``bench/daphne_floor.py``: the same websocket, served by daphne, with
less and less of the project around it. Each accepts, sends one small frame and stays open.

- ``bare``: a plain ASGI callable, no Channels, no Django;
- ``consumer``: a Channels ``AsyncWebsocketConsumer`` behind ``URLRouter`` (no channel layer);
- ``middleware``: that consumer behind the project's websocket middleware stack (origin check,
  database-outage guard, cookies, session and user: ``rooms.middleware.websocket_stack``).

The project's own application (``spaces.asgi:application``) is the fourth step."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")

HELLO = '{"type": "snapshot"}'


_sockets: set = set()


async def bare(scope, receive, send):
    """Also a broadcaster: whatever a socket at ``/control`` sends goes to every other socket,
    one ASGI send each, as a frame sent to a Space's sockets would be."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        return
    control = scope["path"] == "/control"
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            if not control:
                _sockets.add(send)
                await send({"type": "websocket.send", "text": HELLO})
        elif message["type"] == "websocket.receive" and control:
            for other in list(_sockets):
                await other({"type": "websocket.send", "text": message["text"]})
        elif message["type"] == "websocket.disconnect":
            _sockets.discard(send)
            return


def _channels_apps():
    from django.core.asgi import get_asgi_application

    get_asgi_application()  # sets Django up, as spaces/asgi.py does
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import URLRouter
    from django.urls import path

    from rooms.middleware import websocket_stack

    class Hello(AsyncWebsocketConsumer):
        channel_layer_alias = None

        async def connect(self):
            await self.accept()
            await self.send(HELLO)

    routed = URLRouter([path("ws/spaces/<str:code>/", Hello.as_asgi())])
    return routed, websocket_stack(routed)


if os.environ.get("FLOOR_APP") in ("consumer", "middleware"):
    consumer, middleware = _channels_apps()
