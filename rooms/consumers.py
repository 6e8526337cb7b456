"""Websocket for a Space: ``/ws/spaces/<code>/``. See docs/ARCHITECTURE.md for the protocol."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import selectors
from .errors import NotFound
from .events import space_group


class SpaceConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        try:
            self.space = await database_sync_to_async(selectors.space_get)(code=self.scope["url_route"]["kwargs"]["code"])
        except NotFound:
            await self.close(code=4004)
            return
        self.group = space_group(self.space.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def space_event(self, message):
        await self.send_json(message["frame"])
