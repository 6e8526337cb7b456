"""A client that stops reading: its web process does not buffer for it without end. Once more
than ``SPACES_SEND_BUFFER_MAX`` bytes wait for it, the socket is closed with 4009
(spaces/backpressure.py) while the other sockets of the Space get every frame; when the slow
client reads again it finds the close (or the dropped connection) and reconnects to a snapshot."""

import asyncio
import json
import socket
import sys

import pytest
import requests
import websockets

from rooms import services

from ..factories import UserFactory
from ..processes import Process, free_port, wait_for
from ..test_two_processes import in_thread, two_daphnes_env  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CAP = 64 * 1024
UPDATES = 150  # about 1 KB a frame: twice the cap


@pytest.fixture
def daphne(two_daphnes_env, tmp_path):  # noqa: F811 (the fixture imported above)
    port = free_port()
    log = tmp_path / "daphne.log"
    process = Process([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces.asgi:application"],
                      {**two_daphnes_env, "SPACES_SEND_BUFFER_MAX": str(CAP)}, log)
    assert wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok, timeout=30), process.tail()
    yield port, log
    process.stop()


async def scenario(space, host, url: str):
    # The slow client: a small receive buffer, and a websocket library that stops reading from
    # the socket once one frame waits unread (max_queue=1), and we never read.
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
    slow = await websockets.connect(url, sock=raw, origin="http://127.0.0.1", max_queue=1)
    steady = await websockets.connect(url, origin="http://127.0.0.1")
    assert json.loads(await asyncio.wait_for(steady.recv(), 10))["type"] == "snapshot"
    heard = []

    async def listen():
        async for text in steady:
            frame = json.loads(text)
            if frame["type"] == "space.updated":
                heard.append(frame["seq"])

    listening = asyncio.create_task(listen())

    def update_many():
        for n in range(UPDATES):
            services.space_update(space=space, actor=host, title=f"Take {n}", description=f"{n} " + "x" * 270)

    await in_thread(update_many)
    assert await until(lambda: len(heard) == UPDATES, 20), len(heard)
    listening.cancel()
    # The slow client reads again: a few frames, then the close.
    frames, code = 0, None
    try:
        while True:
            await asyncio.wait_for(slow.recv(), 10)
            frames += 1
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else 1006
    await steady.close()
    return heard, frames, code


async def until(condition, timeout: float) -> bool:
    for _ in range(int(timeout * 20)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def test_a_client_that_stops_reading_is_closed_and_the_others_hear_everything(daphne):
    port, log = daphne
    host = UserFactory()
    space = services.space_create(host=host, title="Take 0")
    heard, frames, code = asyncio.run(scenario(space, host, f"ws://127.0.0.1:{port}/ws/spaces/{space.code}/"))
    assert heard == list(range(heard[0], heard[0] + UPDATES))
    text = log.read_text()
    assert "stopped reading" in text, text[-3000:]
    # Closed with 4009, or (the close not acknowledged within a second) the connection dropped.
    assert code in (4009, 1006), code
    assert frames < UPDATES, frames
