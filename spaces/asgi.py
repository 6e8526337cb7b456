"""ASGI entry point: HTTP goes to Django, websockets to the Channels consumers."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from rooms.middleware import websocket_stack  # noqa: E402
from rooms.routing import websocket_urlpatterns  # noqa: E402
from spaces import backpressure, handshakes  # noqa: E402

backpressure.install()  # a websocket that stops reading is closed, not buffered for without end
handshakes.install()  # no pretty-printing for autobahn's dropped debug lines

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)

# A websocket process keeps a few hundred objects per socket for as long as the socket lives,
# and a full pass of CPython's collector walks all of them while every socket of the process
# waits (40 to 150 ms at 500 sockets, see docs/BENCHMARKS.md). What is loaded by now lives as
# long as the process: freeze it out of the collector's passes. And collect the young generation
# less often, so fewer short-lived objects get promoted and full passes come rarely.
gc.freeze()
gc.set_threshold(50_000, 20, 10)
