"""A slow media server never slows pages, API calls or websocket frames.

Media calls (Janus's HTTP API, rooms/media/janus.py) run in Celery tasks queued after commit
(rooms/services/media.py), never on a web request or websocket thread. Here a Janus stand-in
answers every request after 2.5 seconds (more than twice what a page may take); while a real
worker is stuck in those calls, a host promotes, mutes and unmutes a fan through a real daphne,
and every response and every frame still comes within a second. The media work is still done:
the stand-in receives it, later.
"""

import json
import os
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
import requests
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token
from websockets.sync.client import connect as ws_connect

from rooms.models import Participant, Space

from .conftest import require
from .factories import UserFactory
from .processes import Process, free_port, test_database_url, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

BROKER = os.environ.get("TEST_SLOW_MEDIA_BROKER_URL", "redis://127.0.0.1:6379/12")
MEDIA_DELAY = 2.5  # how long the stand-in takes to answer any request (over twice FAST)
FAST = 1.0  # what a page, an API call or a frame may take while the media server is that slow
AUDIOBRIDGE = "janus.plugin.audiobridge"


# --- the Janus stand-in ------------------------------------------------------------------------


class SlowJanus:
    """Janus's HTTP API, answering every request after ``delay`` seconds, recording each one
    (when it arrived, its path and its JSON body). ``in_mix`` holds the participant ids (media ids)
    it reports in an AudioBridge room (``listparticipants``), as if they had joined the mix; each
    room's allowed tokens are kept as Janus keeps them (``create``, then ``allowed``)."""

    def __init__(self, delay: float):
        self.delay = delay
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/janus"
        self.received: list[dict] = []
        self.in_flight = 0
        self.in_mix: set[int] = set()
        self.allowed: dict[int, set[str]] = {}  # room -> tokens allowed in
        self.mountpoints: dict[int, str] = {}  # mountpoint -> PIN
        self.plugins: dict[int, str] = {}  # handle id -> plugin name
        self.lock = threading.Lock()
        self.ids = iter(range(1_000_001, 10**9))
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                standin.answer(self, body)

            def do_GET(self):
                standin.answer(self, None)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, body: dict | None) -> None:
        with self.lock:
            self.received.append({"at": time.monotonic(), "path": handler.path, "body": body})
            self.in_flight += 1
        try:
            time.sleep(self.delay)
            if not handler.path.startswith("/janus"):
                status, reply = 404, {"janus": "error", "error": {"code": 404, "reason": "Not found"}}
            else:
                status, reply = 200, self.reply(handler.path, body)
            data = json.dumps(reply).encode()
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        finally:
            with self.lock:
                self.in_flight -= 1

    def reply(self, path: str, body: dict | None) -> dict:
        if body is None:  # a long poll for events (GET /janus/<session>)
            return {"janus": "keepalive"}
        transaction = body.get("transaction")
        kind = body.get("janus")
        if kind in ("create", "attach"):
            new_id = next(self.ids)
            if kind == "attach":
                with self.lock:
                    self.plugins[new_id] = body.get("plugin", "")
            return {"janus": "success", "transaction": transaction, "data": {"id": new_id}}
        if kind == "message":
            parts = path.rstrip("/").split("/")
            handle = int(parts[-1]) if parts[-1].isdigit() else 0
            plugin = self.plugins.get(handle, AUDIOBRIDGE)
            return {
                "janus": "success",
                "transaction": transaction,
                "sender": handle,
                "plugindata": {"plugin": plugin, "data": self.plugin_data(plugin, body.get("body") or {})},
            }
        if kind == "keepalive":
            return {"janus": "ack", "transaction": transaction}
        return {"janus": "success", "transaction": transaction}

    def plugin_data(self, plugin: str, request: dict) -> dict:
        what = request.get("request")
        if plugin != AUDIOBRIDGE:
            if what == "list":
                return {"streaming": "list", "list": []}
            if what == "create":  # with the port Janus picked for the mountpoint
                with self.lock:
                    self.mountpoints[request.get("id")] = request.get("pin")
                return {"streaming": "created", "stream": {"id": request.get("id"), "ports": [{"type": "audio", "port": 22001}]}}
            if what == "info":
                with self.lock:
                    if request.get("id") not in self.mountpoints:
                        return {"streaming": "event", "error_code": 455, "error": "No such mountpoint"}
                    pin = self.mountpoints[request.get("id")]
                return {"streaming": "info", "info": {"id": request.get("id"), "pin": pin, "media": [{"port": 22001}]}}
            return {"streaming": "ok", "stream": {"id": request.get("id")}}
        if what == "exists":
            with self.lock:
                return {"audiobridge": "success", "room": request.get("room"), "exists": request.get("room") in self.allowed}
        if what == "listparticipants":
            return {
                "audiobridge": "participants",
                "room": request.get("room"),
                "participants": [
                    {"id": pid, "display": "", "setup": True, "muted": False} for pid in sorted(self.in_mix)
                ],
            }
        if what == "listforwarders":
            return {"audiobridge": "forwarders", "room": request.get("room"), "rtp_forwarders": []}
        if what == "list":
            return {"audiobridge": "success", "list": []}
        if what == "create":
            with self.lock:
                self.allowed[request.get("room")] = set(request.get("allowed") or [])
            return {"audiobridge": "created", "room": request.get("room"), "permanent": False}
        if what == "allowed":
            with self.lock:
                tokens = self.allowed.setdefault(request.get("room"), set())
                if request.get("action") == "add":
                    tokens |= set(request.get("allowed") or [])
                elif request.get("action") == "remove":
                    tokens -= set(request.get("allowed") or [])
                return {"audiobridge": "success", "room": request.get("room"), "allowed": sorted(tokens)}
        if what == "rtp_forward":
            return {"audiobridge": "success", "room": request.get("room"), "stream_id": 1}
        return {"audiobridge": "success", "room": request.get("room")}

    def plugin_requests(self, plugin: str | None = None) -> list[dict]:
        """The plugin messages received so far (their ``body``), with ``at`` and ``plugin``."""
        with self.lock:
            received = list(self.received)
            plugins = dict(self.plugins)
        found = []
        for request in received:
            body = request["body"] or {}
            if body.get("janus") != "message":
                continue
            handle = request["path"].rstrip("/").split("/")[-1]
            name = plugins.get(int(handle)) if handle.isdigit() else None
            if plugin is None or name == plugin:
                found.append({**(body.get("body") or {}), "at": request["at"], "plugin": name})
        return found


# --- the processes -----------------------------------------------------------------------------


@pytest.fixture
def slow_janus():
    standin = SlowJanus(MEDIA_DELAY)
    yield standin
    standin.stop()


@pytest.fixture
def site(slow_janus, transactional_db, tmp_path):
    """A daphne and a Celery worker sharing this test's database, with Janus being the stand-in."""
    try:
        redis.Redis.from_url(BROKER).flushdb()
        reachable = True
    except redis.ConnectionError:
        reachable = False
    require(reachable, "Redis is needed for the slow media server test")
    prefix = f"slow-media-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CHANNEL_PREFIX": prefix,
        "CACHE_PREFIX": prefix,
        "JANUS_ENABLED": "1",
        "JANUS_URL": slow_janus.url,
        "JANUS_TIMEOUT": "10",
        "SPACES_MEDIA_SERVER": "rooms.media.janus.JanusMediaServer",
    }
    port = free_port()
    daphne = Process(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces.asgi:application"],
        env, tmp_path / "daphne.log",
    )
    worker = Process(
        [sys.executable, "-m", "celery", "-A", "spaces", "worker", "--concurrency", "2", "--without-gossip",
         "--without-mingle", "-n", f"{prefix}@%h", "--loglevel", "INFO"],
        env, tmp_path / "worker.log",
    )
    try:
        assert wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=1).ok, timeout=30), daphne.tail()
        ready = wait_for(
            lambda: "ready." in worker.log_path.read_text() or worker.process.poll() is not None, timeout=30
        )
        assert ready and worker.process.poll() is None, worker.tail()
        yield type("Site", (), {"base": f"http://127.0.0.1:{port}", "ws": f"ws://127.0.0.1:{port}",
                                "daphne": daphne, "worker": worker})
    finally:
        # The worker is mid-way through slow calls: no warm shutdown, its tasks are ours alone.
        worker.stop(signal.SIGKILL)
        daphne.stop()
        try:
            redis.Redis.from_url(BROKER).flushdb()
        except redis.ConnectionError:
            pass


# --- the websocket, read in a thread -----------------------------------------------------------


class Frames:
    """The frames of an open websocket, read by a thread as they come, each kept with when it came."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        try:
            for text in self.ws:
                with self.lock:
                    self.frames.append((time.monotonic(), json.loads(text)))
        except Exception:
            pass

    def first(self, match, since: float = 0.0) -> tuple[float, dict] | None:
        with self.lock:
            return next(((at, f) for at, f in self.frames if at >= since and match(f)), None)

    def types(self) -> list[str]:
        with self.lock:
            return [f["type"] for _, f in self.frames]


# --- the scenario ------------------------------------------------------------------------------


def timed(what: str, call) -> tuple[requests.Response, float, float]:
    """Make the call; return its response, when it was sent and how long it took."""
    started = time.monotonic()
    try:
        response = call()
    except requests.Timeout:
        pytest.fail(f"{what} got no answer in {time.monotonic() - started:.1f}s (was it waiting on the media server?)")
    return response, started, time.monotonic() - started


def test_a_media_server_that_takes_seconds_never_slows_the_web_or_the_websocket(site, slow_janus):
    host, fan = UserFactory(username="slowhost"), UserFactory(username="slowfan")
    host_api = {"Authorization": f"Token {Token.objects.create(user=host).key}"}
    fan_api = {"Authorization": f"Token {Token.objects.create(user=fan).key}"}
    browser = Client()
    browser.force_login(fan)  # the fan's browser session, for the room page and the websocket
    fan_cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    base = site.base
    timings: list[tuple[str, float]] = []  # what each measured step took, printed at the end
    limit = FAST + MEDIA_DELAY  # a request taking longer than this is failed, not waited on
    # One warm-up request, so the measurements below are not of daphne's first API call.
    assert requests.get(f"{base}/api/spaces/", timeout=10).ok

    # The host goes live: the worker makes the media room, and waits on the stand-in from now on.
    created, _, took = timed("creating a live Space", lambda: requests.post(
        f"{base}/api/spaces/", json={"title": "Slow media"}, headers=host_api, timeout=limit))
    assert created.status_code == 201, created.text
    timings.append(("POST /api/spaces/", took))
    assert took < FAST, f"creating a live Space took {took:.2f}s"
    code = created.json()["code"]
    space = Space.objects.get(code=code)
    assert space.state == Space.State.LIVE and space.media_room_id
    room = space.media_room_id
    assert wait_for(lambda: slow_janus.in_flight > 0, timeout=10), f"no media call:\n{site.worker.tail()}"

    # A signed-in fan joins; their page's websocket reads the snapshot.
    joined, _, took = timed("joining", lambda: requests.post(
        f"{base}/api/spaces/{code}/join/", json={}, headers=fan_api, timeout=limit))
    assert joined.ok, joined.text
    timings.append(("POST join", took))
    assert took < FAST, f"joining took {took:.2f}s"
    uid = joined.json()["participant"]["id"]
    fan_seat = Participant.objects.get(uid=uid)

    with ws_connect(f"{site.ws}/ws/spaces/{code}/", origin="http://127.0.0.1",
                    additional_headers={"Cookie": fan_cookie}, open_timeout=10) as ws:
        socket = Frames(ws)
        snapshot = wait_for(lambda: socket.first(lambda f: f["type"] == "snapshot"), timeout=10)
        assert snapshot, socket.types()
        assert snapshot[1]["data"]["me"]["id"] == uid

        def change(payload: dict, frame_type: str, expect) -> float:
            """PATCH the fan as the host while the media server is busy with slow calls: the
            response, the frame on the websocket, the room page and the Space's API each come
            within FAST. Returns when the response came."""
            assert slow_janus.in_flight > 0, "the media server should be busy with a slow call now"
            response, sent, took = timed(f"PATCH {payload}", lambda: requests.patch(
                f"{base}/api/spaces/{code}/participants/{uid}/", json=payload, headers=host_api, timeout=limit))
            answered = sent + took
            assert response.ok, response.text
            timings.append((f"PATCH {payload}", took))
            assert took < FAST, f"PATCH {payload} took {took:.2f}s"
            heard = wait_for(
                lambda: socket.first(
                    lambda f: f["type"] == frame_type and f["data"]["participant"]["id"] == uid
                    and expect(f["data"]["participant"]),
                    since=sent,
                ),
                timeout=limit, interval=0.01,
            )
            assert heard, f"no {frame_type} frame after PATCH {payload}; frames: {socket.types()}"
            timings.append((f"frame {frame_type} after PATCH {payload}", heard[0] - sent))
            assert heard[0] - sent < FAST, f"the {frame_type} frame came {heard[0] - sent:.2f}s after PATCH {payload}"
            for url, headers in ((f"{base}/s/{code}/", {"Cookie": fan_cookie}), (f"{base}/api/spaces/{code}/", {})):
                page, _, took = timed(f"GET {url}", lambda: requests.get(url, headers=headers, timeout=limit))
                assert page.ok, (url, page.status_code)
                timings.append((f"GET {url.removeprefix(base)} after PATCH {payload}", took))
                assert took < FAST, f"GET {url} took {took:.2f}s"
            return answered

        promoted = change({"role": "speaker"}, "participant.role_changed", lambda p: p["role"] == "speaker")
        # Their browser joins the mix under the id the promotion gave them (the media work, seconds
        # behind, has not looked at the mix yet).
        fan_media_id = Participant.objects.get(pk=fan_seat.pk).media_id
        assert fan_media_id
        slow_janus.in_mix.add(fan_media_id)
        muted = change({"muted": True}, "participant.muted", lambda p: p["muted"] is True)
        change({"muted": False}, "participant.muted", lambda p: p["muted"] is False)
        # Muted again: a media task applies the mute as it is when the task runs, so with only a
        # mute and an unmute behind a busy worker, the media server would rightly see no "mute".
        change({"muted": True}, "participant.muted", lambda p: p["muted"] is True)

        # The media work did happen, on the worker, at the stand-in's pace. (The fan's socket stays
        # open meanwhile: closing it would soon make them leave the stage.)
        token = Participant.objects.get(pk=fan_seat.pk).media_token
        host_token = Participant.objects.get(space=space, user=host).media_token
        assert token and host_token

        def bridge(request: str, **fields) -> dict | None:
            return next(
                (r for r in slow_janus.plugin_requests(AUDIOBRIDGE)
                 if r.get("request") == request and r.get("room") == room
                 and all(r.get(k) == v for k, v in fields.items())),
                None,
            )

        def media_done():
            found = (bridge("create"), bridge("allowed", action="add", allowed=[token]), bridge("mute", id=fan_media_id))
            return found if all(found) else None

        # A room's media work runs one piece at a time (open, then each sync), every Janus request
        # taking MEDIA_DELAY here: a couple of minutes at most.
        media = wait_for(media_done, timeout=240, interval=0.2)
        assert media, f"the stand-in got {slow_janus.plugin_requests()}\nworker log:\n{site.worker.tail()}"
        create, allowed, mute = media
        timings.append(("media: allowed add, after the PATCH answered", allowed["at"] - promoted))
        timings.append(("media: mute, after the first mute answered", mute["at"] - muted))
        print("\n".join(f"{took:7.3f}s  {step}" for step, took in timings))
        assert create["sampling_rate"] == 48000 and create["allowed"] == [host_token]
        # Each came after the web had answered the request that caused it: not on its thread.
        assert allowed["at"] > promoted
        assert mute["at"] > muted
        assert socket.first(lambda f: f["type"] == "error") is None, socket.types()
