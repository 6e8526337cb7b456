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

from .processes import Process, free_port, test_database_url, wait_for
from .factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


async def in_thread(call):
    """Run a service from a worker thread, closing the thread's database connection after."""
    from django.db import connection

    def run():
        try:
            return call()
        finally:
            connection.close()

    return await asyncio.get_running_loop().run_in_executor(None, run)


@pytest.fixture
def two_daphnes_env(settings):
    """The environment of a web process that shares this test's database and channel layer."""
    return {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "JANUS_ENABLED": "0",
    }


@pytest.fixture
def two_daphnes(two_daphnes_env, tmp_path):
    env = two_daphnes_env
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


async def titles_heard(space, host, urls: list[str], title: str) -> list[str]:
    """Connect a socket to each URL, retitle the Space through the service, and return the title
    each socket heard in its ``space.updated`` frame."""
    sockets = [await websockets.connect(url, origin="http://127.0.0.1") for url in urls]
    for ws in sockets:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "snapshot"
    await in_thread(lambda: services.space_update(space=space, actor=host, title=title))

    async def updated(ws):
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] == "space.updated":
                return frame["data"]["title"]

    titles = await asyncio.gather(*(updated(ws) for ws in sockets))
    for ws in sockets:
        await ws.close()
    return titles


def test_a_service_change_reaches_sockets_on_both_processes(two_daphnes):
    host = UserFactory()
    space = services.space_create(host=host, title="Everywhere")
    urls = [f"ws://127.0.0.1:{port}/ws/spaces/{space.code}/" for port in two_daphnes]
    assert asyncio.run(titles_heard(space, host, urls, "Everywhere at once")) == ["Everywhere at once"] * 2


def children(pid: int) -> list[int]:
    return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def test_the_web_launcher_runs_processes_on_one_port_and_replaces_one_that_dies(two_daphnes_env, tmp_path):
    """deploy/web (the Procfile's web process): several daphnes on one port; sockets spread over
    them all hear a service change; a killed daphne is replaced; SIGTERM stops them all."""
    port = free_port()
    launcher = Process([sys.executable, "deploy/web"], {**two_daphnes_env, "SPACES_PORT": str(port), "WEB_PROCESSES": "2"},
                       tmp_path / "web.log")
    try:
        assert wait_for(lambda: len(children(launcher.process.pid)) == 2, timeout=10), launcher.tail()
        assert wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok, timeout=30), launcher.tail()
        first = children(launcher.process.pid)
        host = UserFactory()
        space = services.space_create(host=host, title="Many processes")

        def everyone_hears(count: int, title: str) -> list[str]:
            urls = [f"ws://127.0.0.1:{port}/ws/spaces/{space.code}/"] * count
            return asyncio.run(titles_heard(space, host, urls, title))

        assert everyone_hears(20, "Heard by all") == ["Heard by all"] * 20

        os.kill(first[0], 9)
        assert wait_for(
            lambda: len(children(launcher.process.pid)) == 2 and first[0] not in children(launcher.process.pid),
            timeout=15,
        ), launcher.tail()
        assert "starting another" in launcher.tail()
        assert wait_for(lambda: everyone_hears(10, "Still heard") == ["Still heard"] * 10, timeout=20)
    finally:
        pids = children(launcher.process.pid) if launcher.process.poll() is None else []
        launcher.process.terminate()
        launcher.process.wait(timeout=20)
        launcher.log.close()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read()
