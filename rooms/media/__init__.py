"""The media server behind an interface.

Services decide who may speak and who is muted; a ``MediaServer`` makes the audio obey. The
project ships two: ``rooms.media.janus.JanusMediaServer`` (Janus's AudioBridge for the speakers and
a Streaming mountpoint for the listeners, the default) and ``rooms.media.fake.FakeMediaServer``
(in memory, recording every call, for tests, like Django's locmem email backend). With several
Janus nodes (``settings.JANUS_NODES``), ``rooms.media.nodes`` says which node holds a room and
which node each listener is sent to. The setting
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

from . import turn


class MediaError(Exception):
    """The media server refused or could not be reached; ``code`` is its error code if it gave one."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def listener_holder(participant_uid: str) -> str:
    """Whom a listener's media credentials name (so they can be found and ended): their public
    id, which a signed-out listener in Redis keeps when a removal makes them a row."""
    return f"listener-{participant_uid}"


def speaker_holder(media_id: int) -> str:
    """Whom a speaker's media credentials name: their server-assigned id in the mix."""
    return f"speaker-{media_id}"


def browser_credentials(participant, *, room_id: int, pin: str, server: str, ws_port: int, token) -> dict:
    """What a browser needs to hear (listener) or to speak (host, co-host, speaker), the same
    shape for every media server: ``token(kind, holder)`` gives the server's own token for that
    role and holder; the TURN credentials (``rooms.media.turn``) name the same holder."""
    common = {"server": server, "ws_port": ws_port, "room": room_id}
    if participant.is_speaking_role and participant.media_token and participant.media_id:
        holder = speaker_holder(participant.media_id)
        return common | {
            "kind": "speaker",
            "token": token("speaker", holder),
            "ice_servers": turn.ice_servers(holder),
            "participant_token": participant.media_token,
            "participant_id": participant.media_id,
            "display": participant.uid,
            "muted": participant.muted,
        }
    holder = listener_holder(participant.uid)
    return common | {
        "kind": "listener",
        "token": token("listener", holder),
        "ice_servers": turn.ice_servers(holder),
        "mountpoint": room_id,
        "pin": pin,
    }


@dataclass(frozen=True)
class Rooms:
    """The rooms a media server holds now: speakers' rooms and listeners' mountpoints, by id."""

    speakers: frozenset[int]
    listeners: frozenset[int]


class MediaServer(Protocol):
    def room_open(self, *, room_id: int, allowed: list[str], pin: str, record_file: str | None = None) -> None:
        """Create the room with ``allowed`` speaker secrets, its listeners' mountpoint (opened by
        ``pin``) and the forward between them. Idempotent: parts that exist are kept."""

    def room_close(self, *, room_id: int) -> None:
        """Destroy the room and its mountpoint (whatever of them exists). Idempotent."""

    def room_sync(self, *, room_id: int, speakers: dict[int, bool], allowed: list[str]) -> dict:
        """Put out of the mix everyone whose id is not in ``speakers``, mute those mapped to True,
        and let only ``allowed`` secrets join. Returns ``{"kicked": [...], "muted": [...]}``."""

    def speaker_kick(self, *, room_id: int, participant_id: int) -> None:
        """Put whoever is in the mix under this id out of it."""

    def speaker_unmute(self, *, room_id: int, participant_id: int) -> None:
        """Lift a server-side mute."""

    def session_end(self, *, session_id: int) -> None:
        """End one connection (the one an impostor joined from) at once."""

    def listeners_repin(self, *, room_id: int, pin: str) -> None:
        """Change the PIN that opens the room's mountpoint."""

    def holder_of(self, *, session_id: int, handle_id: int) -> str | None:
        """Whom the credentials a media server connection was opened with name, if known."""

    def revoke_sessions(self, *, holders: list[str]) -> int:
        """End every connection opened with credentials naming one of ``holders``."""

    def rooms(self) -> Rooms:
        """What exists now, for reconciling the server with the database."""

    def credentials(self, *, room_id: int, pin: str, participant) -> dict:
        """What a browser needs to listen (listener) or to speak (host, co-host, speaker)."""


@cache
def _server_class(path: str) -> type:
    return import_string(path)


def media_server() -> MediaServer:
    return _server_class(settings.SPACES_MEDIA_SERVER)()


def enabled() -> bool:
    return bool(settings.JANUS["ENABLED"])


def extra_forwards(room_id: int) -> set[tuple[str, int, int]]:
    """Who else takes a room's mix besides its listeners (live captions): ``(host, port, ssrc)``
    forwards, from the functions ``settings.SPACES_MEDIA_FORWARDS`` names (by path, so this layer
    imports no app above it). ``room_open`` keeps exactly these, and stops them when they go."""
    targets: set[tuple[str, int, int]] = set()
    for path in settings.SPACES_MEDIA_FORWARDS:
        targets |= set(_server_class(path)(room_id))
    return targets
