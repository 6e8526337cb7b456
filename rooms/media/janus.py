"""Janus as the media server: the one module that speaks Janus's HTTP and admin APIs.

A live Space has an AudioBridge room (Opus, 48 kHz) where its speakers talk, and a Streaming
mountpoint with the same id that the room's mix is ``rtp_forward``-ed to; listeners watch the
mountpoint, so the mix is encoded once for all of them. Ids are random (``Space.media_room_id``),
rooms and mountpoints are private (not listed) and carry a per-room secret; watching needs the
Space's PIN. The mountpoint listens on a port Janus picks itself in its own range, bound to
``FORWARD_IFACE`` (loopback), so no two Spaces share a port and nobody off the machine can send
audio into one.

Browsers reach Janus with HMAC-signed, expiring tokens (``sign_token``) naming the one plugin
their role needs and who holds them (``listener-<participant>`` or ``speaker-<media id>``). Janus
cannot revoke a signed token, so the app makes them worthless instead: a speaker's seat is their
``allowed`` token and their server-assigned id (both go when they leave the stage); a listener's is
the PIN (changed when one is removed). ``holder_of`` reads which token a Janus handle was opened
with (admin API), so a join under somebody else's id is caught, and ``revoke_sessions`` ends every
Janus session of a holder.

Every call runs in a Celery task after the database committed (``rooms.services.media``): a
failure raises ``MediaError`` there and the task retries; the periodic reconcile repairs the rest.
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

from . import MediaError, Rooms, browser_credentials

logger = logging.getLogger(__name__)

AUDIOBRIDGE = "janus.plugin.audiobridge"
STREAMING = "janus.plugin.streaming"
OPUS_PT = 111
# Janus error codes (janus_audiobridge.c, janus_streaming.c, apierror.h of Janus 1.1).
AUDIOBRIDGE_EXISTS, AUDIOBRIDGE_NO_SUCH_ROOM, AUDIOBRIDGE_NO_SUCH_USER = 486, 485, 492
# The Streaming plugin's "could not create": the id is taken, or a bind failed.
STREAMING_EXISTS, STREAMING_NO_SUCH_MOUNTPOINT = 456, 455
JANUS_NO_SUCH_SESSION, JANUS_NO_SUCH_HANDLE = 458, 459


def config() -> dict:
    return settings.JANUS


def sign_token(plugins: list[str], ttl: int | None = None, holder: str | None = None) -> str:
    """A Janus token: ``<expiry>,janus,<plugin>...[,<holder>]:<base64 HMAC-SHA1>`` (Janus's
    token_auth). Janus checks the expiry and the plugins; the holder is for ``holder_of``."""
    expiry = int(time.time()) + (ttl or config()["TOKEN_TTL"])
    body = ",".join([str(expiry), "janus", *plugins, *([holder] if holder else [])])
    signature = hmac.new(config()["TOKEN_SECRET"].encode(), body.encode(), hashlib.sha1).digest()
    return f"{body}:{base64.b64encode(signature).decode()}"


def token_holder(token: str) -> str | None:
    """Who a token was issued to, if this app signed it (and it has not been tampered with)."""
    body, _, signature = token.rpartition(":")
    expected = hmac.new(config()["TOKEN_SECRET"].encode(), body.encode(), hashlib.sha1).digest()
    if not body or not hmac.compare_digest(signature, base64.b64encode(expected).decode()):
        return None
    items = body.split(",")[2:]
    holders = [item for item in items if not item.startswith("janus.plugin.")]
    return holders[0] if holders else None


def room_secret(room_id: int) -> str:
    return hmac.new(config()["ROOM_SECRET"].encode(), str(room_id).encode(), hashlib.sha256).hexdigest()[:32]


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


def _post(http: requests.Session, path: str, payload: dict, *, admin: bool = False) -> dict:
    payload = {**payload, "transaction": secrets.token_hex(8)}
    if admin:
        url, payload["admin_secret"] = config()["ADMIN_URL"] + path, config()["ADMIN_SECRET"]
    else:
        url, payload["token"] = config()["URL"] + path, sign_token([AUDIOBRIDGE, STREAMING], 60)
    try:
        response = http.post(url, json=payload, timeout=config()["TIMEOUT"])
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


def _admin_request(path: str, body: dict) -> dict:
    with requests.Session() as http:
        return _post(http, path, body, admin=True)


def _secret(body: dict, room_id: int, *, create: bool = False) -> dict:
    extra = {"admin_key": config()["ADMIN_KEY"]} if create else {}
    return {**body, **extra, "secret": room_secret(room_id)}


def participants(bridge: PluginSession, room_id: int) -> dict[int, bool]:
    """Who is in the room's mix now: id -> muted."""
    try:
        listing = bridge.message({"request": "listparticipants", "room": room_id})
    except MediaError as error:
        if error.code == AUDIOBRIDGE_NO_SUCH_ROOM:
            return {}
        raise
    return {p["id"]: bool(p.get("muted")) for p in listing.get("participants", [])}


def _ignore_missing(call, *codes: int) -> None:
    try:
        call()
    except MediaError as error:
        if error.code not in codes:
            raise


class JanusMediaServer:
    """``rooms.media.MediaServer`` on Janus (AudioBridge + Streaming), over its HTTP API."""

    def room_open(self, *, room_id: int, allowed: list[str], pin: str, record_file: str | None = None) -> None:
        """Create the AudioBridge room, its Streaming mountpoint, and the forward between them.
        Idempotent and repairing: parts that exist are kept once Janus confirmed they are this
        room's, a wrong PIN is put right, a missing or stray forward is fixed. Run for every
        live room by the reconcile, so it only asks before it creates (no error in Janus's log)."""
        with plugin(AUDIOBRIDGE) as bridge:
            self._bridge_open(bridge, room_id, allowed, record_file)
            with plugin(STREAMING) as streaming:
                port = self._mountpoint_open(streaming, room_id, pin)
            self._forward(bridge, room_id, port)

    def _bridge_open(self, bridge: PluginSession, room_id: int, allowed: list[str], record_file: str | None) -> None:
        if bridge.message({"request": "exists", "room": room_id}).get("exists"):
            # Ours only if it takes our secret (an admin request on it succeeds).
            bridge.message(_secret({"request": "listforwarders", "room": room_id}, room_id))
            return
        create = _secret(
            {
                "request": "create",
                "room": room_id,
                "description": f"space-{room_id}",
                "is_private": True,
                "sampling_rate": 48000,
                "audiolevel_event": True,
                "audio_active_packets": 50,
                "audio_level_average": 60,
                "allowed": allowed,
            },
            room_id,
            create=True,
        )
        if record_file:
            create |= {"record": True, "record_file": record_file}
        try:
            bridge.message(create)
        except MediaError as error:
            if error.code != AUDIOBRIDGE_EXISTS:
                raise
            bridge.message(_secret({"request": "listforwarders", "room": room_id}, room_id))  # made meanwhile

    def _mountpoint_open(self, streaming: PluginSession, room_id: int, pin: str) -> int:
        """Make the mountpoint if it is missing (Janus picks its port: port 0), put its PIN right,
        and return the port it listens on."""
        info = self._mountpoint_info(streaming, room_id)
        if info is None:
            media = [{"type": "audio", "mid": "a", "port": 0, "pt": OPUS_PT, "codec": "opus", "iface": config()["FORWARD_IFACE"]}]
            create = {
                "request": "create", "type": "rtp", "id": room_id, "description": f"space-{room_id}",
                "is_private": True, "pin": pin, "media": media,
            }
            try:
                created = streaming.message(_secret(create, room_id, create=True))
            except MediaError as error:
                # 456 is the plugin's "could not create": the id is taken (made meanwhile?), or a bind failed.
                if error.code != STREAMING_EXISTS:
                    raise
                info = self._mountpoint_info(streaming, room_id)
                if info is None:
                    raise MediaError(f"Janus could not create mountpoint {room_id}: {error} (see Janus's log)", error.code) from error
            else:
                ports = created.get("stream", {}).get("ports") or []
                if ports and ports[0].get("port"):
                    return ports[0]["port"]
                info = self._mountpoint_info(streaming, room_id) or {}
        if info.get("pin") != pin:
            streaming.message({"request": "edit", "id": room_id, "secret": room_secret(room_id), "new_pin": pin})
        streams = info.get("media") or []
        port = streams[0].get("port") if streams else None
        if not port:
            raise MediaError(f"Mountpoint {room_id} reports no port.")
        return port

    def _mountpoint_info(self, streaming: PluginSession, room_id: int) -> dict | None:
        """The mountpoint as its owner sees it (None if there is none). One that does not take this
        room's secret is not ours: an error, never taken for success."""
        try:
            info = streaming.message({"request": "info", "id": room_id, "secret": room_secret(room_id)}).get("info", {})
        except MediaError as error:
            if error.code == STREAMING_NO_SUCH_MOUNTPOINT:
                return None
            raise
        if "pin" not in info and "secret" not in info:
            raise MediaError(f"Mountpoint {room_id} exists but does not take this room's secret.")
        return info

    def _forward(self, bridge: PluginSession, room_id: int, port: int) -> None:
        """Exactly one forward of the room's mix, to the mountpoint's port."""
        listing = bridge.message(_secret({"request": "listforwarders", "room": room_id}, room_id))
        forwarding = False
        for forwarder in listing.get("rtp_forwarders", []):
            if forwarder.get("port") == port and not forwarding:
                forwarding = True
                continue
            bridge.message(_secret({"request": "stop_rtp_forward", "room": room_id, "stream_id": forwarder["stream_id"]}, room_id))
        if not forwarding:
            bridge.message(
                _secret(
                    {"request": "rtp_forward", "room": room_id, "host": config()["FORWARD_IFACE"], "port": port,
                     "codec": "opus", "ptype": OPUS_PT},
                    room_id,
                )
            )

    def room_close(self, *, room_id: int) -> None:
        """Destroy the room and its mountpoint (whatever of them exists)."""
        with plugin(AUDIOBRIDGE) as bridge:
            _ignore_missing(lambda: bridge.message(_secret({"request": "destroy", "room": room_id}, room_id)), AUDIOBRIDGE_NO_SUCH_ROOM)
        with plugin(STREAMING) as streaming:
            _ignore_missing(
                lambda: streaming.message(_secret({"request": "destroy", "id": room_id}, room_id)), STREAMING_NO_SUCH_MOUNTPOINT
            )

    def room_sync(self, *, room_id: int, speakers: dict[int, bool], allowed: list[str]) -> dict:
        """Make the room's mix match the app: only ``speakers`` (media id -> muted by the host)
        are in it, everyone the host muted is muted, and only ``allowed`` tokens may join. A
        speaker's own mute (not the host's) is theirs to lift, so nobody is unmuted here."""
        kicked, muted = [], []
        with plugin(AUDIOBRIDGE) as bridge:
            # The allowed list first, so that nobody kicked can come straight back.
            # ("enable" keeps the token check on and answers the list as it is.)
            reply = bridge.message(_secret({"request": "allowed", "room": room_id, "action": "enable"}, room_id))
            present = set(reply.get("allowed", []))
            extra, missing = sorted(present - set(allowed)), sorted(set(allowed) - present)
            if extra:
                bridge.message(_secret({"request": "allowed", "room": room_id, "action": "remove", "allowed": extra}, room_id))
            if missing:
                bridge.message(_secret({"request": "allowed", "room": room_id, "action": "add", "allowed": missing}, room_id))
            for participant_id, is_muted in participants(bridge, room_id).items():
                if participant_id not in speakers:
                    _ignore_missing(
                        lambda: bridge.message(_secret({"request": "kick", "room": room_id, "id": participant_id}, room_id)),
                        AUDIOBRIDGE_NO_SUCH_USER,
                    )
                    kicked.append(participant_id)
                elif speakers[participant_id] and not is_muted:
                    _ignore_missing(
                        lambda: bridge.message(_secret({"request": "mute", "room": room_id, "id": participant_id}, room_id)),
                        AUDIOBRIDGE_NO_SUCH_USER,
                    )
                    muted.append(participant_id)
        return {"kicked": kicked, "muted": muted}

    def speaker_kick(self, *, room_id: int, participant_id: int) -> None:
        with plugin(AUDIOBRIDGE) as bridge:
            _ignore_missing(
                lambda: bridge.message(_secret({"request": "kick", "room": room_id, "id": participant_id}, room_id)),
                AUDIOBRIDGE_NO_SUCH_USER, AUDIOBRIDGE_NO_SUCH_ROOM,
            )

    def speaker_unmute(self, *, room_id: int, participant_id: int) -> None:
        """The host lifted their mute: the speaker is heard again."""
        with plugin(AUDIOBRIDGE) as bridge:
            _ignore_missing(
                lambda: bridge.message(_secret({"request": "unmute", "room": room_id, "id": participant_id}, room_id)),
                AUDIOBRIDGE_NO_SUCH_USER, AUDIOBRIDGE_NO_SUCH_ROOM,
            )

    def session_end(self, *, session_id: int) -> None:
        """End one Janus session now (admin API): its PeerConnections close at once. (A kick only
        schedules the hangup for Janus's next second, and an offer arriving meanwhile cancels it.)"""
        try:
            _admin_request(f"/{session_id}", {"janus": "destroy_session"})
        except MediaError as error:
            if error.code != JANUS_NO_SUCH_SESSION:
                raise

    def listeners_repin(self, *, room_id: int, pin: str) -> None:
        """A new PIN for the mountpoint: whoever knows only the old one cannot watch again."""
        with plugin(STREAMING) as streaming:
            streaming.message({"request": "edit", "id": room_id, "secret": room_secret(room_id), "new_pin": pin})

    def holder_of(self, *, session_id: int, handle_id: int) -> str | None:
        """Who holds the token a Janus handle was opened with (None if it is gone or not ours)."""
        try:
            info = _admin_request(f"/{session_id}/{handle_id}", {"janus": "handle_info"}).get("info", {})
        except MediaError as error:
            if error.code in (JANUS_NO_SUCH_SESSION, JANUS_NO_SUCH_HANDLE):
                return None
            raise
        return token_holder(info.get("token") or "")

    def revoke_sessions(self, *, holders: list[str]) -> int:
        """End every Janus session with a handle opened by one of ``holders``: their PeerConnections
        close at once. Walks Janus's sessions (admin API); removals and blocks are rare."""
        wanted, ended = set(holders), 0
        for session_id in _admin_request("", {"janus": "list_sessions"}).get("sessions", []):
            try:
                handles = _admin_request(f"/{session_id}", {"janus": "list_handles"}).get("handles", [])
                for handle_id in handles:
                    if self.holder_of(session_id=session_id, handle_id=handle_id) in wanted:
                        self.session_end(session_id=session_id)
                        ended += 1
                        break
            except MediaError as error:
                if error.code not in (JANUS_NO_SUCH_SESSION, JANUS_NO_SUCH_HANDLE):
                    raise
        return ended

    def rooms(self) -> Rooms:
        admin = {"admin_key": config()["ADMIN_KEY"]}
        with plugin(AUDIOBRIDGE) as bridge:
            bridged = {r["room"] for r in bridge.message({"request": "list", **admin}).get("list", [])}
        with plugin(STREAMING) as streaming:
            mounted = {m["id"] for m in streaming.message({"request": "list", **admin}).get("list", [])}
        return Rooms(speakers=frozenset(bridged), listeners=frozenset(mounted))

    def credentials(self, *, room_id: int, pin: str, participant) -> dict:
        """Credentials for this person's browser, with a signed token for their role's one plugin."""
        return browser_credentials(
            participant, room_id=room_id, pin=pin, server=config()["PUBLIC_URL"], ws_port=config()["WS_PORT"],
            token=lambda kind, holder: sign_token([AUDIOBRIDGE if kind == "speaker" else STREAMING], holder=holder),
        )
