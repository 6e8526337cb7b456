"""Janus as the media server: the one module that speaks Janus's HTTP API.

A live Space has an AudioBridge room (Opus, 48 kHz) where its speakers talk, and a Streaming
mountpoint with the same id that the room's mix is ``rtp_forward``-ed to; listeners watch the
mountpoint, so the mix is encoded once for all of them. Only people the app put on stage can
publish: their ``Participant.media_token`` is in the room's ``allowed`` list while they are on it.
Browsers reach Janus with HMAC-signed, expiring tokens (``sign_token``) that name only the plugins
their role needs.

Every call runs in a Celery task after the database committed (``rooms.services.media``): a
failure raises ``MediaError`` there, the task retries, and the periodic reconcile repairs whatever
is still off.
"""

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

import requests
from django.conf import settings

from . import MediaError, Rooms

logger = logging.getLogger(__name__)

AUDIOBRIDGE = "janus.plugin.audiobridge"
STREAMING = "janus.plugin.streaming"
OPUS_PT = 111
# Janus error codes meaning "already there" / "not there": fine for idempotent calls.
AUDIOBRIDGE_EXISTS, AUDIOBRIDGE_NO_SUCH_ROOM = 486, 485
STREAMING_EXISTS, STREAMING_NO_SUCH_MOUNTPOINT = 456, 455


def config() -> dict:
    return settings.JANUS


def sign_token(plugins: list[str], ttl: int | None = None) -> str:
    """A Janus token: ``<expiry>,janus,<plugin>...:<base64 HMAC-SHA1>`` (Janus's token_auth)."""
    expiry = int(time.time()) + (ttl or config()["TOKEN_TTL"])
    body = ",".join([str(expiry), "janus", *plugins])
    signature = hmac.new(config()["TOKEN_SECRET"].encode(), body.encode(), hashlib.sha1).digest()
    return f"{body}:{base64.b64encode(signature).decode()}"


def room_secret(room_id: int) -> str:
    return hmac.new(config()["ROOM_SECRET"].encode(), str(room_id).encode(), hashlib.sha256).hexdigest()[:32]


def forward_port(room_id: int) -> int:
    """The mountpoint's RTP port: even ports from FORWARD_PORT_BASE, outside Janus's own range."""
    return config()["FORWARD_PORT_BASE"] + 2 * (room_id % (config()["FORWARD_PORT_COUNT"] // 2))


@dataclass
class PluginSession:
    """One Janus session with a handle attached to one plugin, for control requests."""

    session_id: int
    handle_id: int
    http: requests.Session

    def message(self, body: dict) -> dict:
        """A request the plugin answers at once (create, list, mute...); or, for one it answers
        later (join), the event that carries the answer."""
        reply = _post(self.http, f"/{self.session_id}/{self.handle_id}", {"janus": "message", "body": body})
        if reply.get("janus") == "ack":
            reply = self._next_event()
        data = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data or "error" in data:
            raise MediaError(data.get("error", "plugin error"), data.get("error_code"))
        return data

    def _next_event(self) -> dict:
        params = {"maxev": 1, "token": sign_token([AUDIOBRIDGE, STREAMING], 60)}
        try:
            response = self.http.get(f"{config()['URL']}/{self.session_id}", params=params, timeout=config()["TIMEOUT"] + 30)
            event = response.json()
        except (requests.RequestException, ValueError) as error:
            raise MediaError(f"Janus is unreachable: {error}") from error
        return event[0] if isinstance(event, list) and event else event


def _post(http: requests.Session, path: str, payload: dict) -> dict:
    payload = {**payload, "transaction": secrets.token_hex(8), "token": sign_token([AUDIOBRIDGE, STREAMING], 60)}
    try:
        response = http.post(config()["URL"] + path, json=payload, timeout=config()["TIMEOUT"])
        reply = response.json()
    except (requests.RequestException, ValueError) as error:
        raise MediaError(f"Janus is unreachable: {error}") from error
    if reply.get("janus") == "error":
        error = reply.get("error", {})
        raise MediaError(error.get("reason", "Janus error"), error.get("code"))
    return reply


class plugin:
    """``with plugin(AUDIOBRIDGE) as bridge: bridge.message({...})`` — a short-lived control session."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self) -> PluginSession:
        self.http = requests.Session()
        session_id = _post(self.http, "", {"janus": "create"})["data"]["id"]
        self.session_id = session_id
        handle_id = _post(self.http, f"/{session_id}", {"janus": "attach", "plugin": self.name})["data"]["id"]
        return PluginSession(session_id, handle_id, self.http)

    def __exit__(self, *exc):
        try:
            _post(self.http, f"/{self.session_id}", {"janus": "destroy"})
        except MediaError:
            pass
        self.http.close()
        return False


def _admin(body: dict, room_id: int) -> dict:
    return {**body, "admin_key": config()["ADMIN_KEY"], "secret": room_secret(room_id)}


def participant_ids(bridge: PluginSession, room_id: int) -> set[int]:
    try:
        listing = bridge.message({"request": "listparticipants", "room": room_id})
    except MediaError as error:
        if error.code == AUDIOBRIDGE_NO_SUCH_ROOM:
            return set()
        raise
    return {p["id"] for p in listing.get("participants", [])}


class JanusMediaServer:
    """``rooms.media.MediaServer`` on Janus (AudioBridge + Streaming), over its HTTP API."""

    def room_open(self, *, room_id: int, allowed: list[str], record_file: str | None = None) -> None:
        """Create the AudioBridge room, its Streaming mountpoint, and the forward between them.
        Idempotent: parts that exist already are kept."""
        with plugin(AUDIOBRIDGE) as bridge:
            create = _admin(
                {
                    "request": "create",
                    "room": room_id,
                    "description": f"space-{room_id}",
                    "sampling_rate": 48000,
                    "audiolevel_event": True,
                    "audio_active_packets": 50,
                    "audio_level_average": 60,
                    "allowed": allowed,
                },
                room_id,
            )
            if record_file:
                create |= {"record": True, "record_file": record_file}
            try:
                bridge.message(create)
            except MediaError as error:
                if error.code != AUDIOBRIDGE_EXISTS:
                    raise
            with plugin(STREAMING) as streaming:
                try:
                    streaming.message(
                        _admin(
                            {
                                "request": "create",
                                "type": "rtp",
                                "id": room_id,
                                "description": f"space-{room_id}",
                                "media": [{"type": "audio", "mid": "a", "port": forward_port(room_id), "pt": OPUS_PT, "codec": "opus"}],
                            },
                            room_id,
                        )
                    )
                except MediaError as error:
                    if error.code != STREAMING_EXISTS:
                        raise
            forwarders = bridge.message({"request": "listforwarders", "room": room_id, "secret": room_secret(room_id)})
            if not forwarders.get("rtp_forwarders"):
                bridge.message(
                    {
                        "request": "rtp_forward",
                        "room": room_id,
                        "secret": room_secret(room_id),
                        "host": "127.0.0.1",
                        "port": forward_port(room_id),
                        "codec": "opus",
                        "ptype": OPUS_PT,
                    }
                )

    def room_close(self, *, room_id: int) -> None:
        """Destroy the room and its mountpoint (whatever of them exists)."""
        with plugin(AUDIOBRIDGE) as bridge:
            try:
                bridge.message({"request": "destroy", "room": room_id, "secret": room_secret(room_id)})
            except MediaError as error:
                if error.code != AUDIOBRIDGE_NO_SUCH_ROOM:
                    raise
        with plugin(STREAMING) as streaming:
            try:
                streaming.message({"request": "destroy", "id": room_id, "secret": room_secret(room_id)})
            except MediaError as error:
                if error.code != STREAMING_NO_SUCH_MOUNTPOINT:
                    raise

    def speaker_grant(self, *, room_id: int, token: str) -> None:
        with plugin(AUDIOBRIDGE) as bridge:
            bridge.message(
                {"request": "allowed", "room": room_id, "secret": room_secret(room_id), "action": "add", "allowed": [token]}
            )

    def speaker_revoke(self, *, room_id: int, token: str, participant_id: int) -> None:
        """Take the token off the room's list and kick the person out of the mix."""
        with plugin(AUDIOBRIDGE) as bridge:
            if token:
                bridge.message(
                    {"request": "allowed", "room": room_id, "secret": room_secret(room_id), "action": "remove", "allowed": [token]}
                )
            if participant_id in participant_ids(bridge, room_id):
                bridge.message({"request": "kick", "room": room_id, "secret": room_secret(room_id), "id": participant_id})

    def speaker_mute(self, *, room_id: int, participant_id: int, muted: bool) -> None:
        """Server-side mute: the speaker is silent for everyone whatever their page does."""
        with plugin(AUDIOBRIDGE) as bridge:
            if participant_id in participant_ids(bridge, room_id):
                bridge.message(
                    {"request": "mute" if muted else "unmute", "room": room_id, "secret": room_secret(room_id), "id": participant_id}
                )

    def rooms(self) -> Rooms:
        with plugin(AUDIOBRIDGE) as bridge:
            bridged = {r["room"] for r in bridge.message({"request": "list", "admin_key": config()["ADMIN_KEY"]}).get("list", [])}
        with plugin(STREAMING) as streaming:
            mounted = {m["id"] for m in streaming.message({"request": "list", "admin_key": config()["ADMIN_KEY"]}).get("list", [])}
        return Rooms(speakers=frozenset(bridged), listeners=frozenset(mounted))

    def credentials(self, *, room_id: int, participant) -> dict:
        """What this person's browser needs to hear (listener) or to speak (host, co-host, speaker)."""
        common = {"server": config()["PUBLIC_URL"], "ws_port": config()["WS_PORT"], "room": room_id}
        if participant.is_speaking_role and participant.media_token:
            return common | {
                "kind": "speaker",
                "token": sign_token([AUDIOBRIDGE]),
                "participant_token": participant.media_token,
                "participant_id": participant.pk,
                "display": participant.uid,
                "muted": participant.muted,
            }
        return common | {"kind": "listener", "token": sign_token([STREAMING]), "mountpoint": room_id}
