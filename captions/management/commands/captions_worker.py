"""``manage.py captions_worker``: the live captions worker, a process of its own (docs/CAPTIONS.md)."""

import signal

from django.core.management.base import BaseCommand

from captions.worker import Worker


class Command(BaseCommand):
    help = "Recognise the speech of consenting speakers in every Space whose captions are on."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None, help="UDP port (default: CAPTIONS_PORT)")

    def handle(self, *args, port=None, **options):
        worker = Worker(port=port)

        def stop(*_):
            worker.running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.run()
