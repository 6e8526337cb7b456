"""The first frame published after Redis restarted is not lost: the publishing loop's pooled
connection died with the old Redis, and ``rooms.publisher`` retries a publish once on a
connection error (before, that frame was dropped with a warning)."""

import asyncio
import shutil

import pytest
from channels.layers import channel_layers, get_channel_layer

from rooms import publisher

from ..conftest import require
from ..processes import free_port
from .stack import RedisServer


@pytest.fixture
def own_redis(settings):
    require(shutil.which("redis-server") is not None, "redis-server (Debian's redis-server package)")
    server = RedisServer(free_port())
    server.start()
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    hosts = [{**config["hosts"][0], "address": server.url}] if isinstance(config["hosts"][0], dict) else [server.url]
    settings.CHANNEL_LAYERS = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {**config, "hosts": hosts}}}
    publisher.close_publisher()
    channel_layers.backends.clear()
    yield server
    publisher.close_publisher()
    server.remove()


def received(channel: str) -> dict | None:
    async def receive():
        try:
            return await asyncio.wait_for(get_channel_layer().receive(channel), 3)
        except asyncio.TimeoutError:
            return None

    return asyncio.run(receive())


def test_the_first_publish_after_a_redis_restart_arrives(own_redis, caplog):
    layer = get_channel_layer()
    channel = asyncio.run(layer.new_channel("relay."))
    asyncio.run(layer.group_add(publisher.space_group(7), channel))
    publisher.send(7, {"type": "space.updated", "seq": 1, "data": {}})
    assert received(channel)["frame"]["seq"] == 1  # the publishing loop now holds a connection

    own_redis.kill()
    own_redis.start()
    asyncio.run(layer.group_add(publisher.space_group(7), channel))  # a relay rejoins (rooms/relay.py)
    publisher.send(7, {"type": "space.updated", "seq": 2, "data": {}})
    message = received(channel)
    assert message is not None and message["frame"]["seq"] == 2, caplog.text
    assert "Could not publish" not in caplog.text
