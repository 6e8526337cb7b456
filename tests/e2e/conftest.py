"""Real processes for browser and media tests: Janus from Debian's package with the project's
config, daphne serving the app against the test database, and Debian's headless Chromium."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import requests
from django.db import connections

from tests.conftest import require
from tests.processes import Process, free_port, test_database_url, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(autouse=True)
def real_password_hashing(settings):
    """daphne in its own process checks passwords with the project's real hashers."""
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


@pytest.fixture(scope="session")
def tone(tmp_path_factory) -> Path:
    require(shutil.which("sox") is not None, "sox is needed to make the test tone")
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", str(path), "synth", "60", "sine", "440", "vol", "0.5"], check=True)
    return path


@pytest.fixture
def stack_env() -> dict[str, str]:
    """Settings a test module gives the stack's processes on top of the environment (production's,
    say): override this fixture there. The stack's own ports, database and Redis still win."""
    return {}


@pytest.fixture
def janus_nodes() -> int:
    """How many Janus nodes the stack runs (``JANUS_NODES``): override this fixture in a test module."""
    return 1


@pytest.fixture
def stack(request, transactional_db, tmp_path, settings, stack_env, janus_nodes):
    """Janus and daphne on free ports, sharing the test database; yields their URLs and env. With
    ``janus_nodes`` > 1, more Janus processes (not respawned: one killed stays down) on ports of
    their own, all listed in ``JANUS_NODES``; ``stack.nodes`` holds them as
    ``(name, process or None for the first, node settings)``."""
    require(shutil.which("janus") is not None, "Janus (Debian package janus) is needed")
    require(os.path.exists(CHROMIUM), "Debian's chromium is needed")
    web_port, http_port, ws_port, admin_port, packer_port = free_port(), free_port(), free_port(), free_port(), free_port()
    # A Redis of the stack's own for its Celery broker, cache, presence and media locks: the stack's
    # worker then takes only this stack's tasks, even with other test runs on the machine.
    require(shutil.which("redis-server") is not None, "redis-server is needed")
    redis_port = free_port()
    own_redis = Process(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                        dict(os.environ), tmp_path / "redis.log")
    # Every process started here is stopped, in reverse, after the test, or as soon as setting up
    # the stack fails (a finalizer runs then too; code after the yield would not).
    processes = [own_redis]
    request.addfinalizer(lambda: [process.stop() for process in reversed(processes)])
    private = f"redis://127.0.0.1:{redis_port}"
    assert wait_for(lambda: redis.Redis.from_url(private).ping(), timeout=10), own_redis.tail()
    rtp = 30000 + (os.getpid() % 50) * 400
    env = {
        **os.environ,
        **stack_env,
        "DATABASE_URL": test_database_url(),
        "SPACES_PORT": str(web_port),
        "JANUS_HTTP_PORT": str(http_port),
        "JANUS_WS_PORT": str(ws_port),
        "JANUS_ADMIN_PORT": str(admin_port),
        "JANUS_RTP_RANGE": f"{rtp}-{rtp + 199}",
        "JANUS_FORWARD_PORT_BASE": str(rtp + 200),
        "JANUS_FORWARD_PORT_COUNT": "200",
        "JANUS_PACKER_PORT": str(packer_port),
        "JANUS_CONFIG_DIR": str(tmp_path / "janus"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        # Frames go through the tests' channel layer (the tests may publish too); the rest is private.
        "CHANNEL_REDIS_URL": settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"],
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "REDIS_URL": f"{private}/0",
        "SPACES_PRESENCE_GRACE": "2",
        # The web process queues media work for the worker: both on the stack's own broker.
        "CELERY_BROKER_URL": f"{private}/1",
    }
    nodes, node_processes = [], []
    if janus_nodes > 1:
        nodes.append({"name": "node-1", "url": f"http://127.0.0.1:{http_port}/janus", "admin_url": f"http://127.0.0.1:{admin_port}/admin",
                      "public_url": "", "ws_port": ws_port, "forward_host": "127.0.0.1", "packer_port": packer_port})
        for number in range(2, janus_nodes + 1):
            ports = {name: free_port() for name in ("JANUS_HTTP_PORT", "JANUS_WS_PORT", "JANUS_ADMIN_PORT", "JANUS_PACKER_PORT")}
            rtp_extra = 10000 + (os.getpid() % 50) * 200 + (number - 2) * 100 // (janus_nodes - 1)
            node_env = {**env, **{k: str(v) for k, v in ports.items()}, "JANUS_CONFIG_DIR": str(tmp_path / f"janus-{number}"),
                        "JANUS_RTP_RANGE": f"{rtp_extra}-{rtp_extra + 49}", "JANUS_FORWARD_PORT_BASE": str(rtp_extra + 50),
                        "JANUS_FORWARD_PORT_COUNT": "50"}
            node_processes.append(Process(["deploy/janus/run"], node_env, tmp_path / f"janus-{number}.log"))
            processes.append(node_processes[-1])
            # Its packer, on the node's own port and range, as on a machine of its own.
            processes.append(Process([sys.executable, "manage.py", "media_packer"], node_env, tmp_path / f"packer-{number}.log"))
            nodes.append({"name": f"node-{number}", "url": f"http://127.0.0.1:{ports['JANUS_HTTP_PORT']}/janus",
                          "admin_url": f"http://127.0.0.1:{ports['JANUS_ADMIN_PORT']}/admin", "public_url": "",
                          "ws_port": ports["JANUS_WS_PORT"], "forward_host": "127.0.0.1",
                          "packer_port": ports["JANUS_PACKER_PORT"]})
        env["JANUS_NODES"] = json.dumps(nodes)
        settings.JANUS_NODES = nodes
    # Under deploy/respawn, as in `make run`: Janus killed is Janus started again.
    janus = Process(["deploy/respawn", "deploy/janus/run"], env, tmp_path / "janus.log")
    processes.append(janus)
    # The first node's packer (rooms.media.packer): the listeners' packets of 60 ms, as in `make run`.
    packer = Process(["deploy/respawn", sys.executable, "manage.py", "media_packer"], env, tmp_path / "packer.log")
    processes.append(packer)
    web = Process(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "spaces.asgi:application"],
        env, tmp_path / "daphne.log",
    )
    processes.append(web)
    # Media work (rooms, grants, mutes) runs in Celery tasks, so every stack has a worker. It needs
    # only the environment: started now, it boots while Janus and daphne do, not after them.
    processes.append(Process(
        [sys.executable, "-m", "celery", "-A", "spaces", "worker", "--concurrency", "2", "--without-gossip",
         "--without-mingle", "--loglevel", "INFO"],
        {**env, "SPACES_SWEEP_INTERVAL": "1"}, tmp_path / "celery-worker.log",
    ))
    janus_url = f"http://127.0.0.1:{http_port}/janus"
    assert wait_for(lambda: requests.post(janus_url, json={"janus": "info", "transaction": "t"}, timeout=1).ok, timeout=20), janus.tail()
    for node, process in zip(nodes[1:], node_processes):
        assert wait_for(lambda: requests.post(node["url"], json={"janus": "info", "transaction": "t"}, timeout=1).ok,
                        timeout=20), process.tail()
    base = f"http://127.0.0.1:{web_port}"
    # Up when it answers; with SECURE_SSL_REDIRECT (production's settings) the answer is a redirect.
    assert wait_for(lambda: requests.get(base + "/", timeout=1, allow_redirects=False).status_code in (200, 301),
                    timeout=30), web.tail()
    settings.JANUS = {
        **settings.JANUS, "ENABLED": True, "URL": janus_url, "HTTP_PORT": http_port, "WS_PORT": ws_port,
        "ADMIN_URL": f"http://127.0.0.1:{admin_port}/admin", "ADMIN_PORT": admin_port,
        "FORWARD_PORT_BASE": rtp + 200, "FORWARD_PORT_COUNT": 200, "PACKER_PORT": packer_port,
    }
    settings.SPACES_MEDIA_SERVER = "rooms.media.janus.JanusMediaServer"

    def celery():
        """A beat that sweeps every second (scheduled starts), beside the worker."""
        processes.append(Process([sys.executable, "-m", "celery", "-A", "spaces", "beat", "--schedule",
                                  str(tmp_path / "beat"), "--loglevel", "INFO"],
                                 {**env, "SPACES_SWEEP_INTERVAL": "1"}, tmp_path / "celery-beat.log"))

    stack = type("Stack", (), {"base": base, "env": env, "janus": janus, "packer": packer, "web": web, "tmp": tmp_path, "celery": staticmethod(celery),
                               "nodes": [(node["name"], process, node) for node, process in zip(nodes, [None, *node_processes])]})
    yield stack


def wants_a_gesture(monkeypatch) -> dict:
    """``browser_options`` for a Chromium that wants a user gesture before any sound, as phones
    do: the suite's own ``--autoplay-policy`` (no gesture needed) is left out, since Chromium
    keeps the first one. A module overrides ``browser_options`` with it."""
    kept = [arg for arg in CHROMIUM_ARGS if not arg.startswith("--autoplay-policy=")]
    monkeypatch.setattr(f"{__name__}.CHROMIUM_ARGS", kept)
    return {"args": ["--autoplay-policy=user-gesture-required"]}


@pytest.fixture
def browser_options() -> dict:
    """More Chromium arguments (``args``) and its environment (``env``) for a test module's
    browser: override this fixture there."""
    return {}


@pytest.fixture
def browser(tone, monkeypatch, browser_options):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are still
    # plain synchronous calls between browser steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={tone}", *browser_options.get("args", ())],
            env=browser_options.get("env"),
        )
        yield chromium
        # While Playwright's loop runs in this thread, Django keeps the test's connections per
        # context: close them here, where the test database's teardown would not see them.
        connections.close_all()
        chromium.close()


AUDIO_LEVEL = """() => new Promise((resolve) => {
  const audio = document.getElementById('audio');
  if (!audio || !audio.srcObject) return resolve(0);
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(audio.srcObject);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  source.connect(analyser);
  const buffer = new Float32Array(analyser.fftSize);
  let loudest = 0, samples = 0;
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(buffer);
    let sum = 0;
    for (const v of buffer) sum += v * v;
    loudest = Math.max(loudest, Math.sqrt(sum / buffer.length));
    if (++samples >= 8) { clearInterval(timer); ctx.close(); resolve(loudest); }
  }, 50);
})"""


def janus_handles():
    """Every Janus handle of the stack's (first) node: ``(session id, handle id, handle_info)``,
    through the admin API; a session or handle that goes while it is walked is passed over."""
    from rooms.media import MediaError
    from rooms.media import janus as media

    def ask(path: str, request: str) -> dict | None:
        try:
            return media._admin_request(path, {"janus": request})
        except MediaError as error:
            if error.code not in (media.JANUS_NO_SUCH_SESSION, media.JANUS_NO_SUCH_HANDLE):
                raise
            return None

    for session in media._admin_request("", {"janus": "list_sessions"}).get("sessions", []):
        for handle in (ask(f"/{session}", "list_handles") or {}).get("handles", []):
            info = ask(f"/{session}/{handle}", "handle_info")
            if info is not None:
                yield session, handle, info.get("info", {})


def audio_level(page) -> float:
    """The loudest RMS of what the page's audio element plays, over about 400 ms."""
    return page.evaluate(AUDIO_LEVEL)


def sign_in(page, base: str, username: str, password: str = "correct horse battery"):
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
