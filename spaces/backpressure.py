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


def install() -> None:
    """Cap each websocket's send buffer in daphne (a no-op where daphne is not the server)."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return
    if getattr(WebSocketProtocol, "spaces_capped", False):
        return
    send = WebSocketProtocol.serverSend

    def serverSend(self, content, binary=False):
        if self.state == self.STATE_OPEN:
            waiting = buffered(self.transport)
            if waiting > settings.SPACES_SEND_BUFFER_MAX:
                logger.warning("Closing a websocket that stopped reading (%d bytes waiting for it) with %d",
                               waiting, CLOSE_TOO_SLOW)
                self.sendClose(code=CLOSE_TOO_SLOW, reason="Too slow: reconnect for a fresh snapshot.")
                return
        if self.state in (self.STATE_CLOSING, self.STATE_CLOSED):
            return  # closing: what is still sent for it is dropped
        return send(self, content, binary)

    WebSocketProtocol.serverSend = serverSend
    WebSocketProtocol.spaces_capped = True
