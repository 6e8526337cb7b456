"""The websocket of a Space: ``/ws/spaces/<code>/``. Protocol in docs/REALTIME.md.

The consumer authorises, makes the socket's person present (``services.space_join``), sends a
snapshot, writes out the frames the Space's relay hands it (rooms/relay.py), and turns the few
things a client may say (reactions, pings, resync requests) into service calls. It never writes
models itself, and nothing a client sends can change roles: that is the REST API's.
"""

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.serializers.json import DjangoJSONEncoder

from spaces import outages
from spaces.logs import use_space

from . import presence, relay, selectors, services, snapshot
from .errors import NotFound, NotLive, Removed, SpaceError
from .identity import visitor_for_scope
from .publisher import STAFF
from .models import Participant, Space

logger = logging.getLogger(__name__)

MAX_FRAME = 4096
REACTIONS_PER_SECOND = 5
RESYNCS_PER_WINDOW = 10
# More bad or over-limit frames than this within the window closes the socket (4008).
FLOOD_LIMIT = 20
FLOOD_WINDOW = 10.0

CLOSE_REMOVED = 4003
CLOSE_NOT_FOUND = 4004
CLOSE_FLOOD = 4008


class SpaceConsumer(AsyncWebsocketConsumer):
    # No channel of its own: the relay of its Space in this process hands it every frame, so a
    # broadcast costs one channel-layer message per process, not one per socket.
    channel_layer_alias = None

    space: Space | None = None
    participant: Participant | None = None
    space_relay: relay.SpaceRelay | None = None

    async def connect(self):
        self.connection_id = secrets.token_urlsafe(9)
        self.is_staff = False
        self.closing = False
        # Frames from the relay wait here while a snapshot is being read, so that none is lost
        # between the snapshot's seq and the moment it is sent.
        self.held: list[tuple[dict, str, str]] | None = None
        self.snapshot_lock = asyncio.Lock()
        self.strikes: deque[float] = deque()
        self.reactions: deque[float] = deque()
        self.resyncs: deque[float] = deque()
        self.tasks: set[asyncio.Task] = set()
        # Every line this socket's handlers log names the Space (they all run in this task's context).
        use_space(self.scope["url_route"]["kwargs"]["code"])
        # Accept first: a browser sees the close codes below only on an open socket.
        await self.accept()
        try:
            self.space = await database_sync_to_async(selectors.space_get)(code=self.scope["url_route"]["kwargs"]["code"])
        except NotFound as error:
            await self.send_error(error.code, error.detail)
            await self.close(code=CLOSE_NOT_FOUND)
            return
        except outages.DATABASE_ERRORS as error:
            await self.database_unavailable(error)
            return
        self.held = []
        self.space_relay = await relay.relay_add(self.space.pk, self)
        await self.send_snapshot(arrive=self.space.state == Space.State.LIVE)

    async def disconnect(self, code):
        for task in self.tasks:
            task.cancel()
        if self.space_relay is not None:
            self.space_relay = None
            await relay.relay_remove(self.space.pk, self)
        if self.participant is not None and self.space.state == Space.State.LIVE:
            expires = await presence.connection_closed(self.space.pk, self.participant.pk, self.connection_id)
            relay.expire_later(self.space.pk, expires)

    # --- arriving and snapshots -------------------------------------------------------------

    def _arrive(self) -> Participant | None:
        """Join the live Space: being connected is being present. None while only watching."""
        visitor = visitor_for_scope(self.scope)
        quiet = visitor.signed_in and parse_qs(self.scope.get("query_string", b"").decode()).get("quiet") == ["1"]
        existing = selectors.participant_for(space=self.space, visitor=visitor)
        if existing is not None and not existing.blocked:
            # Counted before joining: a presence sweep that runs meanwhile sees this socket and
            # does not make them leave just as they come back.
            presence.connection_open(self.space.pk, existing.pk, self.connection_id)
        try:
            participant = services.space_join(space=self.space, visitor=visitor, quiet=quiet)
        except NotLive:
            return None
        if existing is None or existing.pk != participant.pk:
            presence.connection_open(self.space.pk, participant.pk, self.connection_id)
        return participant

    def _read_snapshot(self, arrive: bool) -> dict:
        if arrive:
            self.participant = self._arrive()
        return snapshot.space_snapshot(space_id=self.space.pk, viewer=self.participant)

    async def send_snapshot(self, *, arrive: bool = False) -> None:
        """Send the whole visible state at its seq, then the frames that came meanwhile."""
        async with self.snapshot_lock:
            if self.held is None:
                self.held = []
            try:
                snapshot = await database_sync_to_async(self._read_snapshot)(arrive)
            except Removed as error:
                self.held = None
                await self.send_error(error.code, error.detail)
                await self.stop(CLOSE_REMOVED)
                return
            except outages.DATABASE_ERRORS as error:
                self.held = None
                await self.database_unavailable(error)
                return
            data = snapshot["data"]
            self.space.state = data["space"]["state"]
            self.is_staff = bool(data["me"]) and data["me"]["role"] in Participant.STAFF_ROLES
            await self.send(text_data=json.dumps(snapshot, cls=DjangoJSONEncoder))
            held, self.held = self.held, None
            for frame, text, audience in held:
                fresh = frame["seq"] > snapshot["seq"] or frame.get("private") or frame.get("ephemeral")
                if fresh or frame["type"] == "participant.removed":
                    await self.deliver(frame, text, audience)

    # --- frames from the relay ---------------------------------------------------------------

    def presence_member(self) -> tuple[int, str] | None:
        if self.participant is None or self.closing or self.space.state != Space.State.LIVE:
            return None
        return self.participant.pk, self.connection_id

    async def deliver(self, frame: dict, text: str, audience: str) -> None:
        """A frame of this Space, from the relay: write it out, and follow what it says about us."""
        if self.closing:
            return
        if self.held is not None:
            self.held.append((frame, text, audience))
            return
        if audience == STAFF and not self.is_staff:
            return
        await self.send(text_data=text)
        kind = frame["type"]
        if kind.startswith("space."):
            self.space.state = frame["data"]["state"]
            if kind == "space.started" and self.participant is None:
                # The share page of a scheduled Space turns live: this socket becomes presence.
                self.spawn(self.send_snapshot(arrive=True))
            return
        about = (frame.get("data") or {}).get("participant")
        if self.participant is None or not isinstance(about, dict) or about.get("id") != self.participant.uid:
            return
        if kind == "participant.removed":
            await self.stop(CLOSE_REMOVED)
        elif kind == "participant.role_changed":
            was_staff, self.is_staff = self.is_staff, about["role"] in Participant.STAFF_ROLES
            if self.is_staff and not was_staff:
                self.spawn(self.send_snapshot())  # a new co-host needs the queue of raised hands

    # --- from the client ----------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if text_data is None:
            return await self.refuse("binary_frame", "Send JSON text frames.")
        if len(text_data) > MAX_FRAME or len(text_data.encode()) > MAX_FRAME:
            return await self.refuse("frame_too_large", f"Frames are limited to {MAX_FRAME} bytes.")
        try:
            message = json.loads(text_data)
        except ValueError:
            return await self.refuse("malformed_json", "That frame is not valid JSON.")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return await self.refuse("invalid_frame", 'Send an object with a "type".')
        handler = {"ping": self.on_ping, "resync": self.on_resync, "reaction": self.on_reaction}.get(message["type"])
        if handler is None:
            return await self.refuse("unknown_type", "Known types: ping, resync, reaction.")
        await handler(message)

    async def on_ping(self, message):
        await self.send(text_data='{"type": "pong"}')

    async def on_resync(self, message):
        if self.space is None:
            return
        if not within_rate(self.resyncs, RESYNCS_PER_WINDOW, FLOOD_WINDOW):
            return await self.refuse("rate_limited", f"At most {RESYNCS_PER_WINDOW} resyncs in {FLOOD_WINDOW:.0f} seconds.")
        await self.send_snapshot()

    async def on_reaction(self, message):
        if not within_rate(self.reactions, REACTIONS_PER_SECOND, 1.0):
            return await self.refuse("rate_limited", f"At most {REACTIONS_PER_SECOND} reactions a second.")
        if self.participant is None:
            return await self.refuse("not_present", "Reactions are for people in a live Space.")
        try:
            await database_sync_to_async(services.reaction_send)(
                space=self.space, participant=self.participant, emoji=message.get("emoji")
            )
        except SpaceError as error:
            await self.refuse(error.code, error.detail)
        except outages.DATABASE_ERRORS as error:
            outages.note("reaction", error)
            await self.send_error(outages.CODE, outages.DETAIL)

    async def refuse(self, code: str, detail: str):
        """Answer with an error frame; too many within the window close the socket."""
        if not within_rate(self.strikes, FLOOD_LIMIT, FLOOD_WINDOW):
            await self.send_error("flood", "Too many bad frames; closing.")
            await self.stop(CLOSE_FLOOD)
            return
        await self.send_error(code, detail)

    # --- helpers of this consumer --------------------------------------------------------------

    async def send_error(self, code: str, detail: str):
        await self.send(text_data=json.dumps({"type": "error", "data": {"code": code, "detail": detail}}))

    async def database_unavailable(self, error: Exception) -> None:
        """The database does not answer (spaces.outages): say so, and close with 4503 (try again
        later); the client reconnects, and gets a fresh snapshot once it answers again."""
        outages.note(self.scope.get("path", "websocket"), error)
        await self.send_error(outages.CODE, outages.DETAIL)
        await self.stop(outages.CLOSE_TRY_AGAIN)

    async def stop(self, code: int) -> None:
        """Close with ``code`` and stop taking frames (the disconnect that follows cleans up)."""
        self.closing = True
        await self.close(code=code)

    def spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Websocket task failed", exc_info=task.exception())


def within_rate(moments: deque, limit: int, window: float) -> bool:
    """Record one more occurrence now; False when that makes more than ``limit`` in ``window``."""
    now = time.monotonic()
    while moments and now - moments[0] > window:
        moments.popleft()
    moments.append(now)
    return len(moments) <= limit
