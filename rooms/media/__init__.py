"""The media server behind an interface.

Services decide who may speak and who is muted; a ``MediaServer`` makes the audio obey. The
project ships two: ``rooms.media.janus.JanusMediaServer`` (Janus's AudioBridge for the speakers and
a Streaming mountpoint for the listeners, the default) and ``rooms.media.fake.FakeMediaServer``
(in memory, recording every call, for tests, like Django's locmem email backend). The setting
``SPACES_MEDIA_SERVER`` names the class; ``JANUS["ENABLED"] = False`` turns media off (calls do
nothing and report it).

Nothing here is called on a web request or websocket thread: services queue media work for
Celery after commit (``rooms.services.media``), where each call is retried and idempotent.
"""

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class MediaError(Exception):
    """The media server refused or could not be reached; ``code`` is its error code if it gave one."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Rooms:
    """The rooms a media server holds now: speakers' rooms and listeners' mountpoints, by id."""

    speakers: frozenset[int]
    listeners: frozenset[int]


class MediaServer(Protocol):
    def room_open(self, *, room_id: int, allowed: list[str], record_file: str | None = None) -> None:
        """Create the room with ``allowed`` speaker tokens, its listeners' mountpoint and the
        forward between them. Idempotent: parts that exist are kept."""

    def room_close(self, *, room_id: int) -> None:
        """Destroy the room and its mountpoint (whatever of them exists). Idempotent."""

    def speaker_grant(self, *, room_id: int, token: str) -> None:
        """Let the holder of ``token`` publish into the room."""

    def speaker_revoke(self, *, room_id: int, token: str, participant_id: int) -> None:
        """Take ``token`` off the room's list and put the participant out of the mix."""

    def speaker_mute(self, *, room_id: int, participant_id: int, muted: bool) -> None:
        """Server-side mute: silent for everyone, whatever their page does."""

    def rooms(self) -> Rooms:
        """What exists now, for reconciling the server with the database."""

    def credentials(self, *, room_id: int, participant) -> dict:
        """What a browser needs to listen (listener) or to speak (host, co-host, speaker)."""


@cache
def _server_class(path: str) -> type:
    return import_string(path)


def media_server() -> MediaServer:
    return _server_class(settings.SPACES_MEDIA_SERVER)()


def enabled() -> bool:
    return bool(settings.JANUS["ENABLED"])
