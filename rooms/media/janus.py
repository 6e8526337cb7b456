"""Janus as the media server: the one module that speaks Janus's HTTP and admin APIs.

A live Space has an AudioBridge room (Opus, 48 kHz) where its speakers talk, and a Streaming
mountpoint with the same id that the room's mix is ``rtp_forward``-ed to, through the node's
packer (``rooms.media.packer``: 60 ms packets for the listeners, the mountpoint's port in the
SSRC); listeners watch the mountpoint, so the mix is encoded once for all of them. Ids are random
(``Space.media_room_id``), rooms and mountpoints are private (not listed) and carry a per-room
secret; watching needs the Space's PIN. The mountpoint listens on a port Janus picks itself in its
own range, bound to ``FORWARD_IFACE`` (loopback), so no two Spaces share a port and nobody off the
machine can send audio into one.

Browsers reach Janus with HMAC-signed, expiring tokens (``sign_token``) naming the one plugin
their role needs and who holds them (``listener-<participant>`` or ``speaker-<media id>``). Janus
cannot revoke a signed token, so the app makes them worthless instead: a speaker's seat is their
``allowed`` token and their server-assigned id (both go when they leave the stage); a listener's is
the PIN (changed when one is removed). ``holder_of`` reads which token a Janus handle was opened
with (admin API), so a join under somebody else's id is caught, and ``revoke_sessions`` ends every
Janus session of a holder.

With several Janus nodes (``settings.JANUS_NODES``, ``rooms.media.nodes``) a room's AudioBridge
lives on its home node and its mix is forwarded to a mountpoint on each node of its spread; the
room's own requests go to the home, PIN changes and revocations to every node, and ``rooms()``
surveys every node (viewers, and which nodes answer) for the reconcile.

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

import redis
import requests
from django.conf import settings

from . import MediaError, Rooms, browser_credentials, extra_forwards, nodes, packer
from .nodes import Node

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
    node: Node

    def message(self, body: dict) -> dict:
        """A request the plugin answers at once (create, list, mute...); or, for one it answers
        later (join), the event that carries the answer."""
        reply = _post(self.http, f"/{self.session_id}/{self.handle_id}", {"janus": "message", "body": body}, node=self.node)
        if reply.get("janus") == "ack":
            reply = self._next_event()
        data = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data or "error" in data:
            raise MediaError(data.get("error", "plugin error"), data.get("error_code"))
        return data

    def _next_event(self) -> dict:
        params = {"maxev": 1, "token": sign_token([AUDIOBRIDGE, STREAMING], 60)}
        try:
            response = self.http.get(f"{self.node.url}/{self.session_id}", params=params, timeout=config()["TIMEOUT"] + 30)
            event = response.json()
        except (requests.RequestException, ValueError) as error:
            raise MediaError(f"Janus is unreachable: {error}") from error
        return event[0] if isinstance(event, list) and event else event


def _post(http: requests.Session, path: str, payload: dict, *, admin: bool = False, node: Node | None = None) -> dict:
    node = node or nodes.nodes()[0]
    payload = {**payload, "transaction": secrets.token_hex(8)}
    if admin:
        url, payload["admin_secret"] = node.admin_url + path, config()["ADMIN_SECRET"]
    else:
        url, payload["token"] = node.url + path, sign_token([AUDIOBRIDGE, STREAMING], 60)
    try:
        response = http.post(url, json=payload, timeout=config()["TIMEOUT"])
        reply = response.json()
    except (requests.RequestException, ValueError) as error:
        raise MediaError(f"Janus ({node.name}) is unreachable: {error}") from error
    if reply.get("janus") == "error":
        error = reply.get("error", {})
        raise MediaError(error.get("reason", "Janus error"), error.get("code"))
    return reply


class plugin:
    """``with plugin(AUDIOBRIDGE, node) as bridge: bridge.message({...})`` — a short-lived control
    session on one node (the first one if none is named)."""

    def __init__(self, name: str, node: Node | None = None):
        self.name, self.node = name, node or nodes.nodes()[0]

    def __enter__(self) -> PluginSession:
        self.http = requests.Session()
        try:
            session_id = _post(self.http, "", {"janus": "create"}, node=self.node)["data"]["id"]
            self.session_id = session_id
            handle_id = _post(self.http, f"/{session_id}", {"janus": "attach", "plugin": self.name}, node=self.node)["data"]["id"]
        except MediaError:
            self.http.close()
            raise
        return PluginSession(session_id, handle_id, self.http, self.node)

    def __exit__(self, *exc):
        try:
            _post(self.http, f"/{self.session_id}", {"janus": "destroy"}, node=self.node)
        except MediaError:
            pass
        self.http.close()
        return False


def _admin_request(path: str, body: dict, node: Node | None = None) -> dict:
    with requests.Session() as http:
        return _post(http, path, body, admin=True, node=node)


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


def _listeners_forward(room_id: int, node: Node, mountpoint_port: int) -> tuple[str, int, int | None]:
    """Where the room's mix goes for its listeners on ``node``: straight to the mountpoint with
    20 ms packets, else to the node's packer, the SSRC saying which mountpoint (``rooms.media.packer``)."""
    if settings.JANUS["LISTENER_PACKET_MS"] == 20:
        return (node.forward_host, mountpoint_port, None)
    return (node.forward_host, node.packer_port, packer.ssrc_for(room_id, mountpoint_port))


def _ignore_missing(call, *codes: int) -> None:
    try:
        call()
    except MediaError as error:
        if error.code not in codes:
            raise


class JanusMediaServer:
    """``rooms.media.MediaServer`` on Janus (AudioBridge + Streaming), over its HTTP API, on one
    node or several (``rooms.media.nodes``): a room's speakers on its home node, its listeners on
    the mountpoints of its spread, every node surveyed by ``rooms()``."""

    def room_open(self, *, room_id: int, allowed: list[str], pin: str, record_file: str | None = None) -> None:
        """Create the AudioBridge room, its Streaming mountpoints, and the forwards between them.
        Idempotent and repairing: parts that exist are kept once Janus confirmed they are this
        room's, a wrong PIN is put right, a missing or stray forward is fixed; with several nodes,
        a room whose home stopped answering moves to another node, the spread grows by a node
        when the nodes carrying it are full, and a copy of the room left on another node (one
        that answers again) is destroyed. Run for every live room by the reconcile, so it only
        asks before it creates (no error in Janus's log)."""
        if not nodes.several():
            node = nodes.nodes()[0]
            with plugin(AUDIOBRIDGE, node) as bridge:
                self._bridge_open(bridge, room_id, allowed, record_file)
                with plugin(STREAMING, node) as streaming:
                    port = self._mountpoint_open(streaming, room_id, pin, node)
                self._forward(bridge, room_id, {_listeners_forward(room_id, node, port)} | extra_forwards(room_id))
            return
        up = nodes.healthy()
        if not up:
            raise MediaError("No Janus node answers.")
        home = self._home(room_id, up)
        carrying = [node for node in up if node.name in nodes.spread(room_id) | {home.name}]
        for node in up:
            if node not in carrying and self._mountpoint_held(room_id, node):
                # Its mountpoint still has listeners (the placement was lost): keep feeding it.
                nodes.place(room_id, spread_node=node)
                carrying.append(node)
        load = nodes.loads()
        if all(load.get(node.name, 0) >= settings.JANUS_NODE_LISTENERS for node in carrying):
            others = [node for node in up if node not in carrying]
            if others:
                extra = nodes.least_loaded(others, load)
                nodes.place(room_id, spread_node=extra)
                carrying.append(extra)
        with plugin(AUDIOBRIDGE, home) as bridge:
            self._bridge_open(bridge, room_id, allowed, record_file)
            targets = extra_forwards(room_id)
            for node in carrying:
                with plugin(STREAMING, node) as streaming:
                    targets.add(_listeners_forward(room_id, node, self._mountpoint_open(streaming, room_id, pin, node)))
            self._forward(bridge, room_id, targets)
        for node in up:
            if node != home:
                self._bridge_close(room_id, node)

    def _home(self, room_id: int, up: list[Node]) -> Node:
        """The node that holds the room's speakers: as placed, while it answers; else one that
        Janus says holds the room; else the least-loaded node that answers."""
        home = nodes.home(room_id)
        if home is None or home not in up:
            held = []
            for node in up:
                with plugin(AUDIOBRIDGE, node) as bridge:
                    if bridge.message({"request": "exists", "room": room_id}).get("exists"):
                        held.append(node)
            if home is not None:
                logger.warning("Janus node %s does not answer: room %s moves to another node", home.name, room_id)
            home = held[0] if held else nodes.least_loaded(up)
            nodes.place(room_id, home_node=home)
        return home

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
                # Talking is judged over windows of 25 packets (0.5 s): the live captions' consent
                # gate waits for these notices (docs/CAPTIONS.md), so they should not lag long.
                "audio_active_packets": 25,
                "audio_level_average": 60,
                # Each speaker's packets wait in a queue this long before the mix takes them (the
                # jitter they can have without a gap). Janus's default, 6 packets, is 120 ms of
                # every listener's delay; docs/MEDIA.md.
                "default_prebuffering": settings.JANUS["PREBUFFER_PACKETS"],
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

    def _mountpoint_held(self, room_id: int, node: Node) -> bool:
        with plugin(STREAMING, node) as streaming:
            return self._mountpoint_info(streaming, room_id) is not None

    def _bridge_close(self, room_id: int, node: Node) -> None:
        with plugin(AUDIOBRIDGE, node) as bridge:
            if bridge.message({"request": "exists", "room": room_id}).get("exists"):
                _ignore_missing(lambda: bridge.message(_secret({"request": "destroy", "room": room_id}, room_id)), AUDIOBRIDGE_NO_SUCH_ROOM)

    def _mountpoint_open(self, streaming: PluginSession, room_id: int, pin: str, node: Node) -> int:
        """Make the mountpoint if it is missing (Janus picks its port: port 0, on the node's
        forward address), put its PIN right, and return the port it listens on."""
        info = self._mountpoint_info(streaming, room_id)
        if info is None:
            media = [{"type": "audio", "mid": "a", "port": 0, "pt": OPUS_PT, "codec": "opus", "iface": node.forward_host}]
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

    def _forward(self, bridge: PluginSession, room_id: int, targets: set[tuple[str, int, int | None]]) -> None:
        """Exactly one forward of the room's mix to each target (address, port, SSRC, or None where
        any SSRC will do): the listeners' mountpoints or their packers (``_listeners_forward``), and
        whoever else takes the mix (``extra_forwards``: the captions worker while captions are on);
        any other forward is stopped."""
        listing = bridge.message(_secret({"request": "listforwarders", "room": room_id}, room_id))
        forwarding = set()
        for forwarder in listing.get("rtp_forwarders", []):
            host, port, ssrc = forwarder.get("ip"), forwarder.get("port"), forwarder.get("ssrc")
            target = (host, port, ssrc) if (host, port, ssrc) in targets else (host, port, None)
            if target in targets and target not in forwarding:
                forwarding.add(target)
                continue
            bridge.message(_secret({"request": "stop_rtp_forward", "room": room_id, "stream_id": forwarder["stream_id"]}, room_id))
        for host, port, ssrc in sorted(targets - forwarding, key=str):
            request = {"request": "rtp_forward", "room": room_id, "host": host, "port": port, "codec": "opus", "ptype": OPUS_PT}
            if ssrc is not None:
                request["ssrc"] = ssrc
            bridge.message(_secret(request, room_id))

    def room_close(self, *, room_id: int) -> None:
        """Destroy the room and its mountpoints (whatever of them exists) on every node that
        answers; a node that does not has them destroyed by the reconcile when it answers again."""
        targets = nodes.healthy() if nodes.several() else nodes.nodes()
        for node in targets:
            with plugin(AUDIOBRIDGE, node) as bridge:
                _ignore_missing(lambda: bridge.message(_secret({"request": "destroy", "room": room_id}, room_id)), AUDIOBRIDGE_NO_SUCH_ROOM)
            with plugin(STREAMING, node) as streaming:
                _ignore_missing(
                    lambda: streaming.message(_secret({"request": "destroy", "id": room_id}, room_id)), STREAMING_NO_SUCH_MOUNTPOINT
                )
        if nodes.several():
            nodes.forget(room_id)

    def _home_of(self, room_id: int) -> Node:
        """The node of a room's speakers (placed when it was opened)."""
        if not nodes.several():
            return nodes.nodes()[0]
        home = nodes.home(room_id)
        if home is None:
            raise MediaError(f"Room {room_id} has no node yet (it is opened by the next reconcile).")
        return home

    def room_sync(self, *, room_id: int, speakers: dict[int, bool], allowed: list[str]) -> dict:
        """Make the room's mix match the app: only ``speakers`` (media id -> muted by the host)
        are in it, everyone the host muted is muted, and only ``allowed`` tokens may join. A
        speaker's own mute (not the host's) is theirs to lift, so nobody is unmuted here."""
        kicked, muted = [], []
        with plugin(AUDIOBRIDGE, self._home_of(room_id)) as bridge:
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
        with plugin(AUDIOBRIDGE, self._home_of(room_id)) as bridge:
            _ignore_missing(
                lambda: bridge.message(_secret({"request": "kick", "room": room_id, "id": participant_id}, room_id)),
                AUDIOBRIDGE_NO_SUCH_USER, AUDIOBRIDGE_NO_SUCH_ROOM,
            )

    def speaker_unmute(self, *, room_id: int, participant_id: int) -> None:
        """The host lifted their mute: the speaker is heard again."""
        with plugin(AUDIOBRIDGE, self._home_of(room_id)) as bridge:
            _ignore_missing(
                lambda: bridge.message(_secret({"request": "unmute", "room": room_id, "id": participant_id}, room_id)),
                AUDIOBRIDGE_NO_SUCH_USER, AUDIOBRIDGE_NO_SUCH_ROOM,
            )

    def _answering(self) -> list[Node]:
        return nodes.healthy() if nodes.several() else nodes.nodes()

    def session_end(self, *, session_id: int) -> None:
        """End one Janus session now (admin API), on whichever node holds it: its PeerConnections
        close at once. (A kick only schedules the hangup for Janus's next second, and an offer
        arriving meanwhile cancels it.)"""
        for node in self._answering():
            try:
                _admin_request(f"/{session_id}", {"janus": "destroy_session"}, node)
            except MediaError as error:
                if error.code != JANUS_NO_SUCH_SESSION:
                    raise

    def listeners_repin(self, *, room_id: int, pin: str) -> None:
        """A new PIN for the room's mountpoints on every node that answers: whoever knows only the
        old one cannot watch again (a node that does not answer gets it from the reconcile)."""
        for node in self._answering():
            with plugin(STREAMING, node) as streaming:
                _ignore_missing(
                    lambda: streaming.message({"request": "edit", "id": room_id, "secret": room_secret(room_id), "new_pin": pin}),
                    STREAMING_NO_SUCH_MOUNTPOINT,
                )

    def holder_of(self, *, session_id: int, handle_id: int) -> str | None:
        """Who holds the token a Janus handle was opened with (None if it is gone or not ours),
        asked of every node (session ids are random: one node at most knows it)."""
        for node in self._answering():
            try:
                info = _admin_request(f"/{session_id}/{handle_id}", {"janus": "handle_info"}, node).get("info", {})
            except MediaError as error:
                if error.code in (JANUS_NO_SUCH_SESSION, JANUS_NO_SUCH_HANDLE):
                    continue
                raise
            return token_holder(info.get("token") or "")
        return None

    def revoke_sessions(self, *, holders: list[str]) -> int:
        """End every Janus session, on every node, with a handle opened by one of ``holders``: their
        PeerConnections close at once. Walks Janus's sessions (admin API); removals and blocks are rare."""
        wanted, ended = set(holders), 0
        for node in self._answering():
            for session_id in _admin_request("", {"janus": "list_sessions"}, node).get("sessions", []):
                try:
                    for handle_id in _admin_request(f"/{session_id}", {"janus": "list_handles"}, node).get("handles", []):
                        info = _admin_request(f"/{session_id}/{handle_id}", {"janus": "handle_info"}, node).get("info", {})
                        if token_holder(info.get("token") or "") in wanted:
                            _admin_request(f"/{session_id}", {"janus": "destroy_session"}, node)
                            ended += 1
                            break
                except MediaError as error:
                    if error.code not in (JANUS_NO_SUCH_SESSION, JANUS_NO_SUCH_HANDLE):
                        raise
        return ended

    def rooms(self) -> Rooms:
        """What every node holds. With several nodes this is also the survey: the viewers on each
        node are counted (for placing listeners) and a node that does not answer is marked down
        (nobody is sent to it; its rooms move). Fails only if no node answers."""
        admin = {"admin_key": config()["ADMIN_KEY"]}
        if not nodes.several():
            return self._rooms_on(nodes.nodes()[0], admin)[0]
        bridged, mounted, viewers, unreachable = set(), set(), {}, set()
        for node in nodes.nodes():
            try:
                held, count = self._rooms_on(node, admin, count_viewers=True)
            except MediaError as error:
                logger.warning("Janus node %s does not answer: %s", node.name, error)
                unreachable.add(node.name)
                continue
            bridged |= held.speakers
            mounted |= held.listeners
            viewers[node.name] = count
        nodes.record_survey(viewers=viewers, unreachable=unreachable)
        if not viewers:
            raise MediaError("No Janus node answers.")
        return Rooms(speakers=frozenset(bridged), listeners=frozenset(mounted))

    def _rooms_on(self, node: Node, admin: dict, *, count_viewers: bool = False) -> tuple[Rooms, int]:
        viewers = 0
        with plugin(AUDIOBRIDGE, node) as bridge:
            bridged = {r["room"] for r in bridge.message({"request": "list", **admin}).get("list", [])}
        with plugin(STREAMING, node) as streaming:
            mounted = {m["id"] for m in streaming.message({"request": "list", **admin}).get("list", [])}
            if count_viewers:
                # Only "info" with the mountpoint's secret counts its viewers ("list" does not).
                for room_id in mounted:
                    try:
                        info = self._mountpoint_info(streaming, room_id)
                    except MediaError:  # not one of ours: not counted, and no reason to call the node down
                        continue
                    viewers += int((info or {}).get("viewers", 0))
        return Rooms(speakers=frozenset(bridged), listeners=frozenset(mounted)), viewers

    def credentials(self, *, room_id: int, pin: str, participant) -> dict:
        """Credentials for this person's browser, with a signed token for their role's one plugin,
        for the node they should use: a speaker's is the room's home, a listener's the least-loaded
        node carrying the room (one Redis round trip with several nodes; no call to Janus)."""
        node = nodes.nodes()[0]
        if nodes.several():
            speaking = participant.is_speaking_role and participant.media_token and participant.media_id
            try:
                node = (nodes.home(room_id) or node) if speaking else nodes.listener_node(room_id)
            except redis.RedisError:  # the first node; the page retries with fresh credentials
                logger.warning("No node placement for room %s; sending to %s", room_id, node.name)
        return browser_credentials(
            participant, room_id=room_id, pin=pin, server=node.public_url, ws_port=node.ws_port,
            token=lambda kind, holder: sign_token([AUDIOBRIDGE if kind == "speaker" else STREAMING], holder=holder),
        )
