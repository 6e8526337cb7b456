"""``manage.py media_packer``: this Janus node's packer, a process of its own beside Janus
(``rooms.media.packer``: the room's 20 ms frames packed into the listeners' longer packets)."""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rooms.media.packer import Server

logger = logging.getLogger("rooms.media.packer")


class Command(BaseCommand):
    help = "Pack the rooms' 20 ms Opus frames into the listeners' packets of JANUS_LISTENER_PACKET_MS on this node."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None, help="UDP port (default: JANUS_PACKER_PORT)")

    def handle(self, *args, port=None, **options):
        if settings.JANUS["LISTENER_PACKET_MS"] == 20:
            # Rooms forward straight to the mountpoints. The process still runs (it is in the
            # Procfile and systemd's target whatever the setting), doing nothing until stopped.
            logger.info("Packer: JANUS_LISTENER_PACKET_MS is 20, rooms forward straight to the mountpoints; nothing to do")
            stopped = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stopped.set())
            signal.signal(signal.SIGINT, lambda *_: stopped.set())
            while not stopped.wait(3600):
                pass
            return
        try:
            server = Server(port=port)
        except OSError as error:
            raise CommandError(f"Cannot listen on {settings.JANUS['FORWARD_IFACE']}:"
                               f"{port or settings.JANUS['PACKER_PORT']} (UDP): {error}") from error

        def stop(*_):
            server.running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        server.run()
