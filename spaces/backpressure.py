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
        _send(protocol, text.prepared(protocol.factory))
    return True


def _send(protocol, prepared) -> None:
    """Write a prepared message to one socket. Where nothing is waiting for that socket (the usual
    case), the frame goes to the kernel at once with one ``send``; Twisted's own ``write`` would
    register the socket with the event loop for writability and unregister it after the next
    loop turn (two ``epoll_ctl`` calls per socket per frame, most of a broadcast's cost in a
    profile), and autobahn formats a debug line per write. Whatever the kernel does not take, and
    every socket where that shortcut does not hold (TLS, bytes already waiting, compression), goes
    the usual way, so the order of frames is kept."""
    if protocol._perMessageCompress is not None and not prepared.doNotCompress:
        protocol.sendPreparedMessage(prepared)
        return
    data = prepared.payloadHybi
    transport = protocol.transport
    if (type(transport) is _TCP_SERVER and not transport.TLS and transport.connected
            and not transport._writeDisconnected and not protocol.send_queue
            and transport.offset == len(transport.dataBuffer) and not transport._tempDataLen):
        try:
            sent = transport.socket.send(data)
        except OSError:  # BlockingIOError: nothing taken; anything else: Twisted's write meets it
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    protocol.sendData(data)


SCOPE_KEY = "spaces.websocket"

try:
    from twisted.internet.tcp import Server as _TCP_SERVER
except ImportError:  # no Twisted, so no daphne: ``write`` is never reached with a protocol
    _TCP_SERVER = None


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
