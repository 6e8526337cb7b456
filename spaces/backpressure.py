"""A websocket client that stops reading (a frozen tab, a dead network) must not make its web
process buffer frames for it without end.

The ASGI interface has no backpressure: a consumer's ``send`` hands daphne a frame and returns,
and daphne writes it to Twisted's transport, which keeps whatever the kernel does not take. Left
alone, that buffer grows with every frame of the Space until daphne's ping timeout (about 50 s)
drops the client. ``install()`` (called from spaces/asgi.py) caps it: when a socket already has
more than ``SPACES_SEND_BUFFER_MAX`` bytes waiting (in Twisted's buffer and in the kernel's send
queue, which autotuning can grow to megabytes), the frame is dropped and the socket is closed
with **4009** (docs/REALTIME.md); a client that still listens reconnects and starts again from a
fresh snapshot. A close that is not acknowledged within autobahn's close handshake timeout (1 s)
drops the TCP connection, which frees the buffer.
"""

import fcntl
import logging
import struct
import termios
import weakref

from django.conf import settings

logger = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4009


def buffered(transport) -> int:
    """Bytes written to a Twisted transport and not yet acknowledged by the client: what Twisted
    holds, plus the kernel's send queue (``TIOCOUTQ``, Linux's ``SIOCOUTQ``)."""
    waiting = getattr(transport, "dataBuffer", b"")
    held = len(waiting) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)
    try:
        queued = struct.unpack("i", fcntl.ioctl(transport.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (AttributeError, OSError, ValueError):
        queued = 0  # not a plain socket (a test transport): Twisted's part alone
    return held + queued


def _writable(protocol) -> bool:
    """May a frame be written to this socket now? Closes one that stopped reading (4009)."""
    if protocol.state == protocol.STATE_OPEN:
        waiting = buffered(protocol.transport)
        if waiting > settings.SPACES_SEND_BUFFER_MAX:
            logger.warning("Closing a websocket that stopped reading (%d bytes waiting for it) with %d",
                           waiting, CLOSE_TOO_SLOW)
            protocol.sendClose(code=CLOSE_TOO_SLOW, reason="Too slow: reconnect for a fresh snapshot.")
            return False
    return protocol.state not in (protocol.STATE_CLOSING, protocol.STATE_CLOSED)  # closing: dropped


class Broadcast(str):
    """The text of one frame sent to many sockets of a process (``rooms.relay``): framed as a
    websocket message once (autobahn's prepared message), then written to each socket as bytes,
    instead of going through the ASGI send path and being framed again for every socket."""

    def prepared(self, factory):
        try:
            return self._prepared
        except AttributeError:
            self._prepared = factory.prepareMessage(self.encode("utf-8"))
            return self._prepared


def write(scope: dict, text: str) -> bool:
    """Write a broadcast frame straight to the daphne socket behind ``scope``; False when that
    cannot be done here (not daphne, not a ``Broadcast``, the socket gone), and the caller sends
    it the ASGI way. Equivalent to that way (the same buffer cap, the same order: both write to
    the transport at once), minus its per-socket framing and coroutine layers."""
    ref = scope.get(SCOPE_KEY)
    protocol = ref() if ref is not None else None
    if protocol is None or not isinstance(text, Broadcast) or protocol.state == protocol.STATE_CONNECTING:
        return False
    if _writable(protocol):
        protocol.sendPreparedMessage(text.prepared(protocol.factory))
    return True


SCOPE_KEY = "spaces.websocket"


def install() -> None:
    """Cap each websocket's send buffer in daphne, and let a broadcast reach its sockets directly
    (``write``): the scope of a websocket carries a weak reference to its daphne protocol (a
    no-op where daphne is not the server)."""
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return
    if getattr(WebSocketProtocol, "spaces_capped", False):
        return
    send = WebSocketProtocol.serverSend

    def serverSend(self, content, binary=False):
        if _writable(self):
            return send(self, content, binary)

    create_application = Server.create_application

    def create_application_with_socket(self, protocol, scope):
        if scope.get("type") == "websocket":
            scope[SCOPE_KEY] = weakref.ref(protocol)
        return create_application(self, protocol, scope)

    Server.create_application = create_application_with_socket

    WebSocketProtocol.serverSend = serverSend
    WebSocketProtocol.spaces_capped = True
