"""A live stack of our own for fault tests: redis-server and a PostgreSQL cluster on spare ports
(never the shared ones, so they can be killed), two daphne processes on them, and websocket
listeners that keep the room's state the way the browser does (static/js/state.js)."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis
import requests
import websockets

from ..processes import ROOT, Process, free_port, wait_for

HOLD = 0.3  # state.js HOLD_MS
RESYNC_RETRY = 5.0  # state.js RESYNC_RETRY_MS


class RedisServer:
    """redis-server on 127.0.0.1:<port>, without persistence: a restart comes back empty, as a
    Redis that lost its memory (the worst case for presence and the channel layer)."""

    def __init__(self, port: int):
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="spaces-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        client = redis.Redis.from_url(self.url)
        assert wait_for(client.ping, timeout=10, interval=0.02), "redis-server did not start"
        client.close()

    def kill(self) -> None:
        """SIGKILL: no goodbye to any client, everything in memory gone."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


SEED = """
import json
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from rest_framework.authtoken.models import Token
from rooms import services
from rooms.identity import Visitor
User = get_user_model()
host = User.objects.create_user("host", password="correct horse battery")
guest = User.objects.create_user("guest", password="correct horse battery")
space = services.space_create(host=host, title="Through every fault")
participant = services.space_join(space=space, visitor=Visitor.of(guest))
services.participant_set_role(space=space, actor=host, participant=participant, role="speaker")

def session(**values):
    store = SessionStore()
    store.update(values)
    store.create()
    return store.session_key

def signed_in(user):
    return session(_auth_user_id=str(user.pk), _auth_user_backend="django.contrib.auth.backends.ModelBackend",
                   _auth_user_hash=user.get_session_auth_hash())

print(json.dumps({
    "code": space.code, "token": Token.objects.create(user=host).key, "guest": participant.uid,
    "guest_session": signed_in(guest),
    "listeners": [session(listener_id=f"anon-fault-{n}", listener_label=f"Listener {1000 + n}") for n in range(LISTENERS)],
}))
"""


class Stack:
    """Two daphnes sharing our Redis and our PostgreSQL, seeded with a live Space whose host has an
    API token and whose guest (signed in) is a speaker."""

    def __init__(self, redis_server: RedisServer, database_url: str, tmp_path: Path, listeners: int):
        prefix = f"fault-{uuid.uuid4().hex[:8]}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DB_CONN_MAX_AGE": "60",
            "REDIS_URL": redis_server.url,
            "CHANNEL_PREFIX": prefix,
            "CACHE_PREFIX": prefix,
            "JANUS_ENABLED": "0",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "SPACES_PRESENCE_GRACE": "1",
            "SPACES_SEQ_BEAT": "2",
            # Every client here comes from 127.0.0.1, and the test's observer opens a socket each
            # time it reads the truth: far more than one address's share of joins in a minute.
            "SPACES_JOINS_PER_CLIENT": "100000",
        }
        for name in ("CHANNEL_REDIS_URL", "CACHE_REDIS_URL", "CELERY_BROKER_URL"):
            self.env.pop(name, None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput"], env=self.env, cwd=ROOT, check=True, capture_output=True,
                       timeout=180)
        seeded = subprocess.run([*manage, "shell", "-c", SEED.replace("LISTENERS", str(listeners))], env=self.env,
                                cwd=ROOT, check=True, capture_output=True, text=True, timeout=60)
        self.world = json.loads(seeded.stdout.strip().splitlines()[-1])
        self.ports = [free_port(), free_port()]
        self.logs = [tmp_path / f"daphne-{port}.log" for port in self.ports]
        self.servers = [
            Process([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces.asgi:application"],
                    self.env, log)
            for port, log in zip(self.ports, self.logs)
        ]
        for port, server in zip(self.ports, self.servers):
            assert wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code in (200, 503),
                            timeout=40), server.tail()

    @property
    def code(self) -> str:
        return self.world["code"]

    def ws_url(self, n: int) -> str:
        return f"ws://127.0.0.1:{self.ports[n % 2]}/ws/spaces/{self.code}/"

    def api(self, method: str, path: str, n: int = 0, **kwargs) -> requests.Response:
        return requests.request(method, f"http://127.0.0.1:{self.ports[n % 2]}/api/spaces/{self.code}/{path}",
                                headers={"Authorization": f"Token {self.world['token']}"}, timeout=10, **kwargs)

    def mute_guest(self, muted: bool) -> requests.Response:
        return self.api("PATCH", f"participants/{self.world['guest']}/", json={"muted": muted})

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def tail(self) -> str:
        return "\n".join(server.tail()[-1500:] for server in self.servers)


class Poller(threading.Thread):
    """Reads the Space through the API on both processes every 0.1 s and keeps every answer."""

    def __init__(self, stack: Stack):
        super().__init__(daemon=True)
        self.stack, self.answers, self.stopping = stack, [], threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set():
            at = time.monotonic()
            try:
                response = self.stack.api("GET", "", n)
                body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
                self.answers.append((at, response.status_code, body))
            except requests.RequestException as error:
                self.answers.append((at, 0, repr(error)))
            n += 1
            time.sleep(0.1)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=15)


class Listener:
    """One websocket client holding the room's state as the browser does: snapshot, then deltas
    in seq order (early ones held for ``HOLD``), a ``seq`` frame ahead of it treated like an early
    delta, one resync at a time on a gap, and a reconnect (with a fresh snapshot) when closed.

    It records what a test needs to judge: every gap it saw and whether a snapshot covered it."""

    def __init__(self, url: str, cookie: str | None, name: str, listening: bool = False):
        self.url, self.cookie, self.name, self.listening = url, cookie, name, listening
        self.seq: int | None = None
        self.muted: dict[str, bool] = {}
        self.count: int | None = None
        self.held: dict[int, dict] = {}
        self.ahead_since: float | None = None
        self.heard = 0
        self.resyncing = False
        self.gaps: list[int] = []  # the seq that was missing, each time
        self.covered: list[int] = []  # the seq of each snapshot after a gap
        self.snapshots = 0
        self.errors: list[str] = []
        self.closes: list[int | None] = []
        self.ws = None
        self.task: asyncio.Task | None = None
        self.closing = False

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        delay = 0.2
        while not self.closing:
            headers = {"Cookie": f"sessionid={self.cookie}"} if self.cookie else {}
            try:
                async with websockets.connect(self.url, origin="http://127.0.0.1", additional_headers=headers) as ws:
                    self.ws, delay = ws, 0.2
                    if self.listening:
                        # As a page playing the audio does on every (re)connect: count me in.
                        await ws.send('{"type": "listening"}')
                    watchdog = asyncio.create_task(self.watch())
                    try:
                        async for text in ws:
                            self.receive(json.loads(text))
                    finally:
                        watchdog.cancel()
                    self.closes.append(ws.close_code)
            except (OSError, websockets.WebSocketException) as error:
                self.closes.append(getattr(error, "code", None))
            self.ws = None
            if not self.closing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self.task:
            await asyncio.wait_for(self.task, 10)

    # --- the state, as state.js keeps it ---------------------------------------------------

    def receive(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "snapshot":
            data = frame["data"]
            self.seq, self.held, self.ahead_since, self.heard = frame["seq"], {}, None, 0
            self.muted = {p["id"]: p["muted"] for p in data["stage"] + data["listeners"]}
            self.count = data["listener_count"]
            if self.resyncing:
                self.covered.append(frame["seq"])
            self.resyncing = False
            self.snapshots += 1
            return
        if kind == "error":
            self.errors.append(frame["data"]["code"])
            return
        if self.seq is None or frame.get("private") or frame.get("ephemeral") or kind == "pong":
            return
        if kind == "seq":
            if frame["seq"] > self.seq and not self.resyncing:
                self.heard = max(self.heard, frame["seq"])
                self.ahead_since = self.ahead_since or time.monotonic()
            return
        if frame["seq"] <= self.seq or self.resyncing:
            return
        self.held[frame["seq"]] = frame
        self.ahead_since = self.ahead_since or time.monotonic()
        while self.seq + 1 in self.held:
            self.apply(self.held.pop(self.seq + 1))
        if not self.held and self.heard <= self.seq:
            self.ahead_since = None

    def apply(self, frame: dict) -> None:
        self.seq = frame["seq"]
        data = frame.get("data") or {}
        if isinstance(data.get("count"), int):
            self.count = data["count"]
        person = data.get("participant")
        if isinstance(person, dict):
            self.muted[person["id"]] = person["muted"]

    async def watch(self) -> None:
        asked = 0.0
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if self.ahead_since is not None and now - self.ahead_since >= HOLD and not self.resyncing:
                self.gaps.append(self.seq + 1)
                self.held, self.ahead_since, self.heard, self.resyncing = {}, None, 0, True
            elif not (self.resyncing and now - asked >= RESYNC_RETRY):
                continue
            asked = now
            await self.ws.send(json.dumps({"type": "resync"}))

    def view(self, ids) -> tuple:
        """What this client shows: its seq, the listener count, and who of ``ids`` is muted."""
        return self.seq, self.count, {i: self.muted.get(i) for i in ids}
