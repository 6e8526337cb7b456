"""Faults injected into a live Space: Redis killed and restarted empty, PostgreSQL restarted and
stopped, with a guest on the stage and a few dozen signed-out listeners spread over two web
processes. After each, every client must show what the database says (the guest's mute, the
listener count, the latest seq), any frame lost must have been followed by a snapshot, the API
must never have answered a 5xx outside the outage, and during it only its documented JSON 503.

The Redis and the PostgreSQL cluster are this test's own, on spare ports. Recovery times are
printed (docs/RELIABILITY.md quotes them).
"""

import asyncio
import json
import shutil
import time

import pytest
import websockets

from ..conftest import require
from ..processes import free_port
from ..test_database_faults import cluster  # noqa: F401 (a fixture: its own PostgreSQL cluster)
from .stack import Listener, Poller, RedisServer, Stack

pytestmark = pytest.mark.integration

LISTENERS = 30
RECOVERY = 15.0  # seconds allowed for every client to show the database's state again
OUTAGE = 3.0  # seconds Redis stays down


@pytest.fixture
def redis_server():
    require(shutil.which("redis-server") is not None, "redis-server (Debian's redis-server package)")
    server = RedisServer(free_port())
    server.start()
    yield server
    server.remove()


@pytest.fixture
def stack(redis_server, cluster, tmp_path):  # noqa: F811 (the fixture imported above)
    stack = Stack(redis_server, cluster.url, tmp_path, LISTENERS)
    yield stack
    stack.stop()


async def until(condition, timeout: float) -> float | None:
    """Seconds until ``condition()`` held, or None when it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await condition():
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


class Room:
    """The clients of the test, and what the database says (through the API and a fresh snapshot)."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.guest = stack.world["guest"]
        self.clients = [
            Listener(stack.ws_url(n), cookie, f"listener {n}", listening=True) for n, cookie in enumerate(stack.world["listeners"])
        ]
        self.clients.append(Listener(stack.ws_url(1), stack.world["guest_session"], "guest"))
        for client in self.clients:
            client.start()

    async def truth(self):
        """The database's view: a snapshot read now, by a second socket of a listener already
        counted (so that reading it changes nothing), and the API's count."""
        url, cookie = self.stack.ws_url(0), self.stack.world["listeners"][-1]  # this one never leaves
        async with websockets.connect(url, origin="http://127.0.0.1", additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] != "snapshot":
            return None
        api = await asyncio.to_thread(self.stack.api, "GET", "")
        if api.status_code != 200 or api.json()["listener_count"] != frame["data"]["listener_count"]:
            return None
        data = frame["data"]
        return frame["seq"], data["listener_count"], {p["id"]: p["muted"] for p in data["stage"]}

    async def agree(self) -> bool:
        try:
            truth = await self.truth()
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
            return False
        if truth is None:
            return False
        self.last_truth = truth
        return all(client.view(truth[2]) == truth and not client.resyncing for client in self.clients)

    def disagreeing(self) -> list:
        truth = getattr(self, "last_truth", None)
        return [(c.name, c.view(truth[2] if truth else {})) for c in self.clients if not truth or c.view(truth[2]) != truth][:5]


def test_a_live_space_comes_through_redis_and_postgresql_faults(stack, redis_server, cluster):  # noqa: F811
    poller = Poller(stack)
    poller.start()
    outages: list[tuple[float, float]] = []
    timings: dict[str, float] = {}
    try:
        room = asyncio.run(scenario(stack, redis_server, cluster, outages, timings))
    finally:
        poller.stop()
    print("\nfault recovery (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in timings.items()))

    # The API: 200 outside the outages (allowing 0.5 s either side); within them, 200 or the
    # documented 503 JSON body. Never a 500.
    def during(at: float) -> bool:
        return any(start - 0.5 <= at <= end + 0.5 for start, end in outages)

    wrong = [(round(at, 2), status, body) for at, status, body in poller.answers
             if status != 200 and not (during(at) and status == 503 and isinstance(body, dict)
                                       and body.get("code") in ("database_unavailable", "realtime_unavailable"))]
    assert wrong == [], (wrong[:10], stack.tail())
    assert len(poller.answers) > 50
    # Every gap a client saw was followed by a snapshot at or past the missing seq.
    for client in room.clients:
        assert len(client.covered) >= len(client.gaps), (client.name, client.gaps, client.covered)
        assert all(any(seq >= gap for seq in client.covered) for gap in client.gaps), (client.name, client.gaps, client.covered)


async def scenario(stack: Stack, redis_server: RedisServer, cluster, outages: list, timings: dict) -> Room:  # noqa: F811
    room = Room(stack)
    try:
        # Everyone agrees once each listener's "listening" has been counted (the guest is on the
        # stage, not a listener).
        count = LISTENERS
        everyone = await until(lambda: agree_on(room, muted=False, count=count), 20)
        assert everyone is not None, (getattr(room, "last_truth", None), room.disagreeing(), stack.tail())

        # --- Redis killed and back empty, a host action while it was down, then quiet: the
        # action's frame is lost, and nothing that follows would reveal it ---
        started = time.monotonic()
        redis_server.kill()
        await asyncio.sleep(0.3)
        muted = await asyncio.to_thread(stack.mute_guest, True)
        assert muted.status_code == 200, (muted.status_code, muted.text[:300])
        # A socket opened now is told why it cannot be served, and to come back (4503).
        refused = await handshake(stack, stack.world["listeners"][-1])
        assert refused == ("realtime_unavailable", 4503), refused
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - started)))
        redis_server.start()
        outages.append((started, time.monotonic()))
        settled = await until(lambda: agree_on(room, muted=True, count=count), RECOVERY)
        assert settled is not None, (getattr(room, "last_truth", None), room.disagreeing(), stack.tail())
        timings["redis: state right again after Redis answered"] = settled

        # Presence is back: someone leaving now is counted out within the grace (1 s here).
        gone = room.clients.pop(0)
        await gone.close()
        left = await until(lambda: agree_on(room, muted=True, count=count - 1), 10)
        assert left is not None, (getattr(room, "last_truth", None), room.disagreeing(), stack.tail())
        timings["redis: a departure after the restart counted"] = left
        # The first publish after the restart did not fail: an action is heard at once.
        unmuted = await asyncio.to_thread(stack.mute_guest, False)
        assert unmuted.status_code == 200
        heard = await until(lambda: all_show(room, muted=False), 3)
        assert heard is not None and heard < 1.0, (heard, room.disagreeing())
        timings["redis: next action heard"] = heard

        # --- Redis killed again while two listeners close their sockets: they still leave ---
        started = time.monotonic()
        redis_server.kill()
        await asyncio.sleep(0.3)
        for client in room.clients[:2]:
            await client.close()
        room.clients = room.clients[2:]
        await asyncio.sleep(max(0.0, 1.5 - (time.monotonic() - started)))
        redis_server.start()
        outages.append((started, time.monotonic()))
        left = await until(lambda: agree_on(room, muted=False, count=count - 3), RECOVERY)
        assert left is not None, (getattr(room, "last_truth", None), room.disagreeing(), stack.tail())
        timings["redis: departures during the outage counted after it"] = left
        assert not any(client.snapshots > 4 for client in room.clients), [c.snapshots for c in room.clients]

        # --- PostgreSQL restarted: costs nothing ---
        started = time.monotonic()
        await asyncio.to_thread(cluster.pg_ctl, "restart", "-m", "fast")
        outages.append((started, time.monotonic()))  # a request during the restart itself may get the 503
        muted = await asyncio.to_thread(stack.mute_guest, True)
        assert muted.status_code == 200, (muted.status_code, muted.text[:300])
        settled = await until(lambda: agree_on(room, muted=True, count=count - 3), RECOVERY)
        assert settled is not None, (getattr(room, "last_truth", None), room.disagreeing(), stack.tail())
        timings["postgres restart: state right"] = settled

        # --- PostgreSQL down for 2 s: the API answers its JSON 503, clients stay, nothing lost ---
        started = time.monotonic()
        await asyncio.to_thread(cluster.pg_ctl, "stop", "-m", "fast")
        refused = await asyncio.to_thread(stack.mute_guest, False)
        assert refused.status_code == 503 and refused.json()["code"] == "database_unavailable", refused.text[:300]
        assert int(refused.headers["Retry-After"]) > 0
        await asyncio.sleep(1.5)
        await asyncio.to_thread(cluster.pg_ctl, "start")
        outages.append((started, time.monotonic()))
        unmuted = await asyncio.to_thread(stack.mute_guest, False)
        assert unmuted.status_code == 200, (unmuted.status_code, unmuted.text[:300])
        settled = await until(lambda: agree_on(room, muted=False, count=count - 3), RECOVERY)
        assert settled is not None, (getattr(room, "last_truth", None), room.disagreeing(), stack.tail())
        timings["postgres outage: state right after it came back"] = settled
        return room
    finally:
        for client in room.clients:
            client.closing = True
        await asyncio.gather(*(client.close() for client in room.clients), return_exceptions=True)


async def handshake(stack: Stack, cookie: str) -> tuple:
    """Open a socket: the code of its first frame if that is an error, and how it was closed."""
    async with websockets.connect(stack.ws_url(0), origin="http://127.0.0.1",
                                  additional_headers={"Cookie": f"sessionid={cookie}"}) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        return frame["data"]["code"] if frame["type"] == "error" else frame["type"], ws.close_code


async def agree_on(room: Room, *, muted: bool, count: int) -> bool:
    if not await room.agree():
        return False
    seq, truth_count, stage = room.last_truth
    return truth_count == count and stage.get(room.guest) is muted


async def all_show(room: Room, *, muted: bool) -> bool:
    return all(client.muted.get(room.guest) is muted for client in room.clients)
