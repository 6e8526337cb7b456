"""A quiet live Space: the relay of a real daphne process waits on Redis for a minute without
logging errors, and the first frames after the silence arrive at once.

channels-redis receives with a blocking Redis read of 5 s; the channel layer's connections must
be allowed to wait longer than that (spaces/settings.py, CHANNEL_LAYERS), otherwise every read of
an idle relay ends in a TimeoutError, a traceback and a pause of a second (rooms/relay.py).
"""

import asyncio
import json
import sys
import time

import pytest
import requests
import websockets

from rooms import services

from .factories import UserFactory
from .processes import Process, free_port, wait_for
from .test_two_processes import in_thread, two_daphnes_env  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

IDLE = 60.0
# Frames sent after the silence, each this long after the previous one arrived: the relay's read
# that follows a frame has then just run out (5 s), so a relay that paused a second after such a
# read would still be pausing when the next frame comes.
FRAMES, SPACING = 2, 5.5
DEADLINE = 0.1
TROUBLE = ("could not receive", "TimeoutError", "Traceback")


@pytest.fixture
def daphne(two_daphnes_env, tmp_path):  # noqa: F811 (the fixture imported above)
    port = free_port()
    log = tmp_path / "daphne.log"
    process = Process([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces.asgi:application"],
                      two_daphnes_env, log)
    assert wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok, timeout=30), process.tail()
    yield port, log
    process.stop()


async def idle_then_updates(space, host, url: str) -> list[float]:
    """Connect, stay quiet for IDLE seconds, then retitle the Space FRAMES times, SPACING apart;
    returns how long each ``space.updated`` took to arrive after its service call returned
    (negative: before)."""
    async with websockets.connect(url, origin="http://127.0.0.1") as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "snapshot"
        # Drain what the join itself published (participant.joined, listeners.count).
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 2)
        except asyncio.TimeoutError:
            pass
        await asyncio.sleep(IDLE - 2)
        delays = []
        for n in range(FRAMES):
            title = f"Still here {n}"
            task = asyncio.create_task(heard(ws, title))
            await in_thread(lambda: services.space_update(space=space, actor=host, title=title))
            published = time.monotonic()
            arrived = await asyncio.wait_for(task, 5)
            delays.append(arrived - published)
            await asyncio.sleep(SPACING)
        return delays


async def heard(ws, title: str) -> float:
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "space.updated" and frame["data"]["title"] == title:
            return time.monotonic()


def test_an_idle_relay_waits_quietly_and_delivers_at_once(daphne):
    port, log = daphne
    host = UserFactory()
    space = services.space_create(host=host, title="Quiet room")
    delays = asyncio.run(idle_then_updates(space, host, f"ws://127.0.0.1:{port}/ws/spaces/{space.code}/"))
    text = log.read_text()
    trouble = [line for line in text.splitlines() if any(word in line for word in TROUBLE)]
    assert trouble == [], ([round(d, 3) for d in delays], text[-4000:])
    assert max(delays) < DEADLINE, [round(d, 3) for d in delays]


def test_the_channel_layer_outwaits_its_blocking_read_but_not_forever():
    """A receive's blocking read (5 s) ends on its own before the socket timeout; a Redis that
    stops answering still raises (after the timeout), so the relay logs it and retries."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    timeout = layer.create_pool(0).connection_kwargs.get("socket_timeout")
    assert timeout is not None and layer.brpop_timeout * 2 <= timeout <= 30
