"""The websocket of a Space: ``/ws/spaces/<code>/``. Protocol in docs/REALTIME.md.

The consumer authorises, sends a snapshot, relays the events the services publish, and turns the
few things a client may say (reactions, pings, resync requests) into service calls. It never
writes models itself, and nothing a client sends can change roles.
"""

import asyncio
import json
import logging
import time
from collections import deque

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from . import presence, selectors, services
from .errors import NotFound, SpaceError
from .events import space_group, space_staff_group
from .identity import anonymous_identity, existing_anonymous_id
from .models import Participant, Space

logger = logging.getLogger(__name__)

MAX_FRAME = 4096
REACTIONS_PER_SECOND = 5
# More bad or over-limit frames than this within the window closes the socket (4008).
FLOOD_LIMIT = 20
FLOOD_WINDOW = 10.0

CLOSE_REMOVED = 4003
CLOSE_NOT_FOUND = 4004
CLOSE_FLOOD = 4008


class SpaceConsumer(AsyncWebsocketConsumer):
    space: Space
    participant: Participant | None = None
    groups_joined: tuple = ()

    async def connect(self):
        self.strikes: deque[float] = deque()
        self.reactions: deque[float] = deque()
        self.heartbeat: asyncio.Task | None = None
        code = self.scope["url_route"]["kwargs"]["code"]
        try:
            self.space = await database_sync_to_async(selectors.space_get)(code=code)
        except NotFound:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept()
        try:
            self.participant = await database_sync_to_async(self._arrive)()
        except SpaceError as error:
            await self.send_error(error.code, error.detail)
            await self.close(code=CLOSE_REMOVED if error.code == "removed" else 4000)
            return
        await self._join_groups()
        await self.send_snapshot()
        if self.participant is not None:
            self.heartbeat = asyncio.create_task(self._keep_alive())

    def _arrive(self) -> Participant | None:
        """Become present if the Space is live; a scheduled or ended Space is only watched."""
        if self.space.state != Space.State.LIVE:
            return None
        user = self.scope.get("user")
        quiet = b"quiet=1" in self.scope.get("query_string", b"")
        if user is not None and user.is_authenticated:
            participant = services.space_join(space=self.space, user=user, quiet=quiet)
        else:
            anon_id = existing_anonymous_id(self.scope.get("session"))
            label = (self.scope.get("session") or {}).get("listener_label", "")
            if not anon_id:
                # No session yet (a script, or cookies off): a listener for this connection only.
                anon_id, label = anonymous_identity({})
            participant = services.space_join(space=self.space, anon_id=anon_id, anon_label=label)
        return participant

    async def _join_groups(self):
        groups = [space_group(self.space.pk)]
        if self.participant is not None and self.participant.is_staff_role:
            groups.append(space_staff_group(self.space.pk))
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = tuple(groups)
        if self.participant is not None:
            await presence.connection_open(self.space.pk, self.participant.pk, self.channel_name)

    async def _keep_alive(self):
        while True:
            await asyncio.sleep(presence.HEARTBEAT)
            await presence.connection_alive(self.space.pk, self.participant.pk, self.channel_name)
            # Group membership expires in the channel layer; renewing it costs one command.
            for group in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        if self.heartbeat:
            self.heartbeat.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.participant is not None and self.space.state == Space.State.LIVE:
            await presence.connection_closed(self.space.pk, self.participant.pk, self.channel_name)
            asyncio.get_running_loop().create_task(expire_after_grace(self.space.pk))

    # --- from the client ----------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None or text_data is None:
            return await self.refuse("binary_frame", "Send JSON text frames.")
        if len(text_data.encode()) > MAX_FRAME:
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
        await self.send_frame({"type": "pong"})

    async def on_resync(self, message):
        await self.send_snapshot()

    async def on_reaction(self, message):
        now = time.monotonic()
        while self.reactions and now - self.reactions[0] > 1.0:
            self.reactions.popleft()
        if len(self.reactions) >= REACTIONS_PER_SECOND:
            return await self.refuse("rate_limited", f"At most {REACTIONS_PER_SECOND} reactions a second.")
        if self.participant is None:
            return await self.refuse("not_present", "Reactions are for people in a live Space.")
        self.reactions.append(now)
        try:
            await database_sync_to_async(services.reaction_send)(
                space=self.space, participant=self.participant, emoji=message.get("emoji")
            )
        except SpaceError as error:
            await self.refuse(error.code, error.detail)

    async def refuse(self, code: str, detail: str):
        """Answer with an error frame; too many within the window close the socket."""
        now = time.monotonic()
        self.strikes.append(now)
        while self.strikes and now - self.strikes[0] > FLOOD_WINDOW:
            self.strikes.popleft()
        if len(self.strikes) > FLOOD_LIMIT:
            await self.send_error("flood", "Too many bad frames; closing.")
            await self.close(code=CLOSE_FLOOD)
            return
        await self.send_error(code, detail)

    # --- to the client ------------------------------------------------------------------

    async def send_frame(self, frame: dict):
        await self.send(text_data=json.dumps(frame, cls=DjangoJSONEncoder))

    async def send_error(self, code: str, detail: str):
        await self.send_frame({"type": "error", "data": {"code": code, "detail": detail}})

    async def send_snapshot(self):
        snapshot = await database_sync_to_async(selectors.space_snapshot)(
            space_id=self.space.pk, viewer=self.participant
        )
        await self.send_frame(snapshot)

    async def space_event(self, message):
        """A frame published by a service: relay it, and react to what it says about us."""
        frame = message["frame"]
        await self.send(text_data=message.get("text") or json.dumps(frame, cls=DjangoJSONEncoder))
        kind = frame["type"]
        if kind in ("space.ended", "space.cancelled", "space.started", "space.updated"):
            self.space.state = frame["data"]["state"]
            if kind == "space.started" and self.participant is None:
                # The share page of a scheduled Space turns live: this socket becomes presence.
                await self._become_present()
            return
        about = (frame.get("data") or {}).get("participant") or {}
        if self.participant is None or about.get("id") != self.participant.uid:
            return
        if kind == "participant.removed":
            await self.close(code=CLOSE_REMOVED)
        elif kind == "participant.role_changed":
            await self._follow_role(about["role"])

    async def _become_present(self):
        try:
            self.participant = await database_sync_to_async(self._arrive)()
        except SpaceError as error:
            await self.send_error(error.code, error.detail)
            return
        if self.participant is not None:
            await self._join_groups()
            await self.send_snapshot()
            self.heartbeat = asyncio.create_task(self._keep_alive())

    async def _follow_role(self, role: str):
        staff = space_staff_group(self.space.pk)
        self.participant.role = role
        if role in Participant.STAFF_ROLES and staff not in self.groups_joined:
            await self.channel_layer.group_add(staff, self.channel_name)
            self.groups_joined += (staff,)
            await self.send_snapshot()  # a new co-host needs the queue of raised hands
        elif role not in Participant.STAFF_ROLES and staff in self.groups_joined:
            await self.channel_layer.group_discard(staff, self.channel_name)
            self.groups_joined = tuple(g for g in self.groups_joined if g != staff)


async def expire_after_grace(space_id: int) -> None:
    await asyncio.sleep(settings.SPACES_PRESENCE_GRACE.total_seconds() + 0.25)
    try:
        await database_sync_to_async(services.space_presence_expire)(space_id=space_id)
    except Exception:
        # The periodic sweep will make them leave; a disconnect must never raise.
        logger.exception("Presence expiry failed for Space %s", space_id)
