"""The stack the browser benchmarks run against, started one way for all of them: a database of
the bench's own (dropped and made afresh), real Janus and its packer, daphne and a Celery worker for the media
tasks, on free ports, with a Redis prefix and a Celery broker database of their own; waited on
until daphne and Janus both answer; stopped (every process group) however the bench ends.

    with Stack("captions", rtp_base=41000, broker_db=13, env={"CAPTIONS_PORT": "5011"}) as stack:
        stack.start()
        ...  # Django is set up: models and services can be used; stack.base is the site
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.processes import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
    "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
]
PASSWORD = "correct horse battery"


def pct(values, q: float) -> float:
    """The ``q`` quantile of ``values``, nearest rank."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class Stack:
    """Janus, daphne and a Celery worker for one bench run. ``rtp_base`` starts 600 UDP ports of
    the bench's own (400 for Janus's RTP, 200 for its forwards), so two benches can run at once."""

    def __init__(self, name: str, *, rtp_base: int, broker_db: int, env: dict[str, str] | None = None):
        self.db = f"bench_{name}"
        self.web_port, self.http_port, self.ws_port, self.admin_port, self.packer_port = (free_port() for _ in range(5))
        self.janus_dir = tempfile.mkdtemp(prefix=f"bench-{name}-janus-")
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "spaces.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.db}",
            "SPACES_PORT": str(self.web_port), "JANUS_HTTP_PORT": str(self.http_port),
            "JANUS_WS_PORT": str(self.ws_port), "JANUS_ADMIN_PORT": str(self.admin_port),
            "JANUS_RTP_RANGE": f"{rtp_base}-{rtp_base + 399}", "JANUS_FORWARD_PORT_BASE": str(rtp_base + 400),
            "JANUS_FORWARD_PORT_COUNT": "200", "JANUS_CONFIG_DIR": self.janus_dir, "JANUS_PACKER_PORT": str(self.packer_port),
            "CHANNEL_PREFIX": f"bench-{name}-{os.getpid()}", "LOG_LEVEL": "WARNING",
            # Media work runs in the Celery worker started here, on a broker of the bench's own.
            "CELERY_BROKER_URL": f"redis://127.0.0.1:6379/{broker_db}",
            **(env or {}),
        }
        self.processes: list[subprocess.Popen] = []

    def spawn(self, args: list[str], *, env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
        """Start a process of the stack in a process group of its own (stopped with the stack);
        its output goes to ``log`` if given, else nowhere."""
        out = log.open("w") if log else subprocess.DEVNULL
        try:
            process = subprocess.Popen(args, cwd=ROOT, env={**self.env, **(env or {})}, stdout=out,
                                       stderr=subprocess.STDOUT if log else subprocess.DEVNULL, start_new_session=True)
        finally:
            if log:
                out.close()  # the child has its own copy
        self.processes.append(process)
        return process

    def start(self, *, timeout: float = 30.0) -> None:
        """Make the database, start the processes, wait until daphne and Janus answer, and set up
        Django in this process on the same settings."""
        for sql in (f"drop database if exists {self.db}", f"create database {self.db}"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, capture_output=True)
        os.environ.update(self.env)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        self.spawn(["deploy/janus/run"])
        self.spawn([sys.executable, "manage.py", "media_packer"])  # the listeners' 60 ms packets, as in `make run`
        self.spawn([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.web_port), "spaces.asgi:application"])
        self.spawn([sys.executable, "-m", "celery", "-A", "spaces", "worker", "--concurrency", "1", "--without-gossip",
                    "--without-mingle", "--loglevel", "WARNING"])
        import django
        import requests

        django.setup()
        # Playwright's sync API runs an event loop in this thread; the bench's ORM calls are not async.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        deadline = time.monotonic() + timeout
        while True:
            try:
                janus = requests.post(f"http://127.0.0.1:{self.http_port}/janus", json={"janus": "info", "transaction": "x"}, timeout=1)
                if requests.get(self.base + "/", timeout=1).ok and janus.ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne or Janus did not answer within {timeout:.0f} s")
            time.sleep(0.2)

    def janus_pid(self) -> int:
        """Janus's own pid (``deploy/janus/run`` renders its configuration first, then execs it)."""
        found = subprocess.run(["pgrep", "-f", f"janus -C {self.janus_dir}"], capture_output=True, text=True).stdout.split()
        return int(found[0])

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)  # the group: a process's children go too
            except ProcessLookupError:
                pass
            process.wait(timeout=15)
        self.processes.clear()
        shutil.rmtree(self.janus_dir, ignore_errors=True)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def speaker_and_listener(browser, base: str, code: str, username: str, microphone: str):
    """The host (``username``) on the stage of Space ``code`` with ``microphone`` (an init script
    standing in for the microphone), and a signed-out listener who pressed Listen and has the
    Space's audio: ``(speaker page, listener page)``."""
    context = browser.new_context()
    context.add_init_script(microphone)
    speaker = context.new_page()
    sign_in(speaker, base, username)
    speaker.goto(f"{base}/s/{code}/")  # the host's page joins the stage by itself
    speaker.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=30000)
    listener = browser.new_page()
    listener.goto(f"{base}/s/{code}/")
    listener.click("#listen")
    listener.wait_for_function("document.getElementById('audio').srcObject", timeout=30000)
    return speaker, listener
