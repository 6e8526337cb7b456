"""PostgreSQL restarts and outages, against a daphne on a PostgreSQL cluster of this test's own.

The cluster is started here (initdb in a temporary directory, a spare port, trust
authentication) so that it can be restarted and stopped without touching the shared server.

- A restart costs no request: with ``CONN_HEALTH_CHECKS`` a persistent connection that the
  restart broke is noticed and replaced before it is used. Checked by running the first test on
  the code before this change and with ``conn_health_checks=False`` in spaces/settings.py: both
  fail, websocket handshakes right after the restart meeting the broken connection (an HTTP 500
  before, a ``database_unavailable`` refusal with the outage handling below).
- During an outage the API answers 503 ``database_unavailable`` with ``Retry-After``, pages a plain
  503 "try again" page, websocket handshakes are refused with an error frame and close code 4503,
  and the log holds no traceback per request. Once the database is back, everything answers again.

The seconds from the restart (or the new start) to the first good answer are printed
(docs/OPERATIONS.md, "Database outages").
"""

import asyncio
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
import websockets

from .conftest import require
from .processes import ROOT, Process, free_port, wait_for

pytestmark = pytest.mark.integration

TRY_AGAIN = "The database is not answering; try again in a moment."
ATTEMPTS = 10

SEED = """
import json
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from rooms import services
user = get_user_model().objects.create_user("ada", password="correct horse battery")
space = services.space_create(host=user, title="Through a restart", scheduled_for=timezone.now() + timedelta(days=1))
session = SessionStore()
session["_auth_user_id"] = str(user.pk)
session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
session["_auth_user_hash"] = user.get_session_auth_hash()
session.create()
print(json.dumps({"code": space.code, "session": session.session_key}))
"""


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian: /usr/lib/postgresql/<version>/bin)."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


class Cluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<port>, run by the ``postgres`` user when
    this test runs as root (PostgreSQL refuses to)."""

    def __init__(self, bin_dir: Path, port: int):
        self.bin, self.port = bin_dir, port
        self.root = Path(tempfile.mkdtemp(prefix="spaces-pg-"))
        self.data, self.log = self.root / "data", self.root / "postgres.log"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, "postgres", "postgres")
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")

    def run(self, tool: str, *args: str, timeout: float = 60) -> None:
        subprocess.run([*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, timeout=timeout)

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", *args, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "-o", options)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def remove(self) -> None:
        try:
            self.pg_ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster():
    bin_dir = postgres_bin()
    require(bin_dir is not None, "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/initdb)")
    if os.geteuid() == 0:
        require(shutil.which("runuser") is not None and _user_exists("postgres"), "a postgres user to run PostgreSQL")
    cluster = Cluster(bin_dir, free_port())
    try:
        cluster.pg_ctl("start")
        yield cluster
    finally:
        cluster.remove()


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def app(cluster, tmp_path):
    """Daphne on the cluster with persistent connections, plus a signed-in session and a Space."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url,
        "DB_CONN_MAX_AGE": "60",
        "CHANNEL_PREFIX": prefix,
        "CACHE_PREFIX": prefix,
        "JANUS_ENABLED": "0",
        "CELERY_TASK_ALWAYS_EAGER": "1",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    seeded = subprocess.run([*manage, "shell", "-c", SEED], env=env, cwd=ROOT, check=True, capture_output=True,
                            text=True, timeout=60)
    world = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = free_port()
    log = tmp_path / "daphne.log"
    server = Process([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces.asgi:application"],
                     env, log)
    try:
        assert wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code in (200, 503),
                        timeout=30), server.tail()
        yield {"port": port, "log": log, "server": server, **world}
    finally:
        server.stop()


def api_get(app) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{app['port']}/api/spaces/", cookies={"sessionid": app["session"]}, timeout=10)


def page_get(app) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{app['port']}/s/{app['code']}/", cookies={"sessionid": app["session"]},
                        timeout=10)


async def _handshake(app, signed_in: bool) -> dict:
    """Open the Space's socket (as the signed-in host: the session and user are loaded before the
    consumer runs): the first frame, or how it was refused."""
    url = f"ws://127.0.0.1:{app['port']}/ws/spaces/{app['code']}/"
    headers = {"Cookie": f"sessionid={app['session']}"} if signed_in else {}
    try:
        async with websockets.connect(url, origin=f"http://127.0.0.1:{app['port']}", additional_headers=headers) as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] == "error":
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                except websockets.ConnectionClosed:
                    pass
                return {"type": "error", "code": frame["data"]["code"], "close": ws.close_code}
            return {"type": frame["type"]}
    except websockets.InvalidStatus as refused:
        return {"type": "http", "status": refused.response.status_code}


def handshake(app, signed_in: bool = True) -> dict:
    return asyncio.run(_handshake(app, signed_in))


def tracebacks(app) -> int:
    return app["log"].read_text().count("Traceback (most recent call last)")


def everything_answers(app) -> bool:
    return (api_get(app).status_code == 200 and page_get(app).status_code == 200
            and handshake(app)["type"] == "snapshot" and handshake(app, signed_in=False)["type"] == "snapshot")


def test_a_restart_costs_no_request(cluster, app):
    # Warm persistent connections: HTTP requests and sockets, several at once.
    for _ in range(3):
        assert api_get(app).status_code == 200
        assert page_get(app).status_code == 200
        assert handshake(app) == {"type": "snapshot"}
        assert handshake(app, signed_in=False) == {"type": "snapshot"}

    started = time.monotonic()
    cluster.pg_ctl("restart", "-m", "fast")
    restarted = time.monotonic()
    first_answer = None
    answers = []
    for _ in range(ATTEMPTS):
        status = api_get(app).status_code
        first_answer = first_answer or (time.monotonic() if status == 200 else None)
        answers.append(("api", status))
        answers.append(("page", page_get(app).status_code))
        answers.append(("websocket", handshake(app)))
        answers.append(("websocket", handshake(app, signed_in=False)))
    print(f"\nPostgreSQL restart took {restarted - started:.2f} s; first API answer "
          f"{(first_answer or time.monotonic()) - restarted:.2f} s after it was back")
    assert all(answer in (("api", 200), ("page", 200), ("websocket", {"type": "snapshot"})) for answer in answers), (
        answers, app["server"].tail())


def test_an_outage_answers_try_again_and_ends_when_the_database_is_back(cluster, app):
    assert everything_answers(app)
    before = tracebacks(app)
    cluster.pg_ctl("stop", "-m", "fast")

    for _ in range(5):
        api = api_get(app)
        assert api.status_code == 503, (api.status_code, api.text[:500])
        assert api.headers["Content-Type"].startswith("application/json")
        assert api.json() == {"detail": TRY_AGAIN, "code": "database_unavailable"}
        assert int(api.headers["Retry-After"]) > 0

        page = page_get(app)
        assert page.status_code == 503, (page.status_code, page.text[:500])
        assert page.headers["Content-Type"].startswith("text/html")
        assert "try again" in page.text.lower()
        assert int(page.headers["Retry-After"]) > 0

        for signed_in in (True, False):  # refused before the consumer, and by the consumer
            refused = handshake(app, signed_in)
            assert refused == {"type": "error", "code": "database_unavailable", "close": 4503}, refused

    # A token, and a signed-in user's page without the Space: the same answers.
    api = requests.get(f"http://127.0.0.1:{app['port']}/api/spaces/", timeout=10,
                       headers={"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"})
    assert (api.status_code, api.json()["code"]) == (503, "database_unavailable")
    home = requests.get(f"http://127.0.0.1:{app['port']}/", cookies={"sessionid": app["session"]}, timeout=10)
    assert home.status_code == 503 and "try again" in home.text.lower()
    # Twenty-two refused requests and sockets, and not a traceback for each.
    assert tracebacks(app) - before <= 2, app["server"].tail()

    started = time.monotonic()
    cluster.pg_ctl("start")
    back = time.monotonic()
    assert wait_for(lambda: api_get(app).status_code == 200, timeout=5, interval=0.05), app["server"].tail()
    answered = time.monotonic()
    assert wait_for(lambda: everything_answers(app), timeout=2), app["server"].tail()
    print(f"\nPostgreSQL start took {back - started:.2f} s; first API answer {answered - back:.2f} s after it was up")


# --- in this process, without a cluster -----------------------------------------------------------


def test_the_try_again_page_reads_nothing_from_the_database():
    """Rendered with database access forbidden (no django_db mark): no context processor, no user."""
    from spaces import outages

    response = outages.page_response()
    assert response.status_code == 503 and response["Retry-After"] == str(outages.RETRY_AFTER)
    assert b"Try again in a moment" in response.content


@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
def test_a_database_error_outside_drf_becomes_the_503_of_its_kind(rf, error):
    from django import db

    from spaces.outages import DatabaseOutageMiddleware

    middleware = DatabaseOutageMiddleware(lambda request: None)
    api = middleware.process_exception(rf.get("/api/anything/"), getattr(db, error)("gone"))
    assert (api.status_code, json.loads(api.content)) == (503, {"detail": TRY_AGAIN, "code": "database_unavailable"})
    page = middleware.process_exception(rf.get("/s/abc/"), getattr(db, error)("gone"))
    assert page.status_code == 503 and page["Content-Type"].startswith("text/html")
    assert middleware.process_exception(rf.get("/api/anything/"), ValueError("not ours")) is None
