"""Scaling the web tier: two daphne processes share one Redis channel layer, and a change made
through a service reaches sockets on both."""

import asyncio
import json
import os
import sys

import pytest
import requests
import websockets

from rooms import services

from .processes import Process, free_port, wait_for
from .factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


@pytest.fixture
def two_daphnes(settings, tmp_path):
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        if connection.vendor == "postgresql" else f"sqlite:///{db['NAME']}",
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "JANUS_ENABLED": "0",
    }
    ports = [free_port(), free_port()]
    processes = [
        Process([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces.asgi:application"],
                env, tmp_path / f"daphne-{port}.log")
        for port in ports
    ]
    for port, process in zip(ports, processes):
        assert wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok, timeout=30), process.tail()
    yield ports
    for process in processes:
        process.stop()


def test_a_service_change_reaches_sockets_on_both_processes(two_daphnes):
    host = UserFactory()
    space = services.space_start_now(host=host, title="Everywhere")

    async def scenario():
        sockets = [
            await websockets.connect(f"ws://127.0.0.1:{port}/ws/spaces/{space.code}/", origin="http://127.0.0.1")
            for port in two_daphnes
        ]
        for ws in sockets:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "snapshot"
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: services.space_update(space=space, actor=host, title="Everywhere at once")
        )

        async def updated(ws):
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == "space.updated":
                    return frame["data"]["title"]

        titles = await asyncio.gather(*(updated(ws) for ws in sockets))
        for ws in sockets:
            await ws.close()
        return titles

    assert asyncio.run(scenario()) == ["Everywhere at once", "Everywhere at once"]
