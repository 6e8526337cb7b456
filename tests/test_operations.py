"""Running it on the internet: client addresses behind proxies, sign-in lockouts, links on the
served port, /healthz, /metrics and log lines that name their Space. See docs/OPERATIONS.md."""

import io
import json
import logging
import math
import os
import signal
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import AsyncClient, RequestFactory
from prometheus_client.parser import text_string_to_metric_families

from rooms import presence, selectors, services
from rooms.identity import Visitor
from spaces import health, logs
from spaces.asgi import application
from spaces.celery import HEARTBEAT_TASK, Scheduler, app as celery_app, heartbeat_task
from spaces.clients import client_ip

from .conftest import require
from .factories import SpaceFactory, UserFactory
from .processes import free_port, wait_for
from .processes import test_database_url as database_url
from .test_project import manage, production

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's


# --- Client addresses ------------------------------------------------------------------------


def request_from(remote="198.51.100.1", forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        (0, None, "198.51.100.1"),
        (0, "203.0.113.7", "198.51.100.1"),  # no proxy: the header is whatever the client wrote
        (1, None, "198.51.100.1"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # a client's own entry is the leftmost: ignored
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (3, "203.0.113.7, 10.0.0.2", "203.0.113.7"),  # shorter than the chain: the leftmost
        (1, "6.6.6.6, not-an-address", "198.51.100.1"),
        (1, "6.6.6.6, 2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_believes_forwarded_for_only_as_far_as_the_trusted_proxies(settings, proxies, forwarded, expected):
    settings.SPACES_TRUSTED_PROXIES = proxies
    assert client_ip(request_from(forwarded=forwarded)) == expected


HTTPS_SEEN = """
import json
from django.conf import settings
from django.test import Client
page = Client(HTTP_HOST="spaces.example.org").get("/", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({"header": getattr(settings, "SECURE_PROXY_SSL_HEADER", None), "page": page.status_code,
                  "num_proxies": settings.REST_FRAMEWORK["NUM_PROXIES"]}))
"""


@pytest.mark.django_db
@pytest.mark.parametrize("proxies, header, page", [("0", None, 301), ("1", ["HTTP_X_FORWARDED_PROTO", "https"], 200)])
def test_x_forwarded_proto_is_believed_only_behind_a_trusted_proxy(proxies, header, page):
    """With no proxy, a client saying "https" in a header is still redirected to https."""
    env = production(ALLOWED_HOSTS="spaces.example.org", DATABASE_URL=database_url(), SPACES_TRUSTED_PROXIES=proxies)
    result = manage("shell", "-c", HTTPS_SEEN, env=env)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"header": header, "page": page, "num_proxies": int(proxies)}


@pytest.mark.django_db
@pytest.mark.parametrize("proxies", [0, 1])
def test_the_token_throttle_keys_on_the_client_not_on_what_it_writes_in_forwarded_for(api, settings, proxies):
    """Before, DRF keyed on the whole X-Forwarded-For header: a new value each time escaped it.
    (An empty body is refused before any password is checked: only the throttle counts here.)"""
    settings.SPACES_TRUSTED_PROXIES = proxies
    spoof = (lambda i: f"10.9.{i}.1") if proxies == 0 else (lambda i: f"10.9.{i}.1, 203.0.113.50")
    statuses = [api.post("/api/auth/token/", {}, format="json", HTTP_X_FORWARDED_FOR=spoof(i)).status_code for i in range(21)]
    assert statuses[:20] == [400] * 20 and statuses[20] == 429
    if proxies:
        # Another client behind the same proxy has an allowance of its own.
        other = api.post("/api/auth/token/", {}, format="json", HTTP_X_FORWARDED_FOR="10.9.0.1, 203.0.113.51")
        assert other.status_code == 400


# --- Sign-in lockouts ------------------------------------------------------------------------


def token(api, username, password, remote="198.51.100.1", **headers):
    return api.post(
        "/api/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=remote, **headers
    )


def assert_locked_out(response):
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "locked_out" and "Too many failed sign-in attempts" in body["detail"]
    assert set(body) == {"detail", "code"}
    assert response["Retry-After"] == "900"


@pytest.fixture
def no_token_throttle(settings):
    """Lockouts come after 5 failures, the throttle after 20: keep the throttle out of the way."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "1000/min"}}
    from rest_framework.settings import api_settings

    api_settings.reload()
    yield
    api_settings.reload()


@pytest.mark.django_db
def test_an_account_is_locked_whatever_address_tries_it(api, no_token_throttle):
    UserFactory(username="ada")
    for i in range(4):
        assert token(api, "ada", "wrong", remote=f"198.51.100.{10 + i}").json()["code"] == "invalid_credentials"
    assert_locked_out(token(api, "ada", "wrong", remote="198.51.100.14"))
    # The right password, from an address that never failed: still refused.
    assert_locked_out(token(api, "ada", PASSWORD, remote="198.51.100.99"))
    # Others are not locked.
    UserFactory(username="bob")
    assert token(api, "bob", PASSWORD, remote="198.51.100.98").status_code == 200


@pytest.mark.django_db
def test_an_address_is_locked_whatever_account_it_tries(api, no_token_throttle):
    UserFactory(username="ada")
    for i in range(4):
        assert token(api, f"guess{i}", "wrong").status_code == 400
    assert_locked_out(token(api, "guess4", "wrong"))
    assert_locked_out(token(api, "ada", PASSWORD))
    # The account itself is not locked: from another address it signs in.
    assert token(api, "ada", PASSWORD, remote="198.51.100.2").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("proxies", [0, 1])
def test_a_spoofed_forwarded_for_does_not_escape_an_address_lockout(api, settings, no_token_throttle, proxies):
    """With no proxy the header is ignored; behind one, a client's own entry is the leftmost and
    only the entry the proxy appended counts."""
    settings.SPACES_TRUSTED_PROXIES = proxies
    UserFactory(username="ada")
    remote = "198.51.100.1" if proxies == 0 else "127.0.0.1"  # behind a proxy, the proxy's address

    def spoofed(i):
        return f"10.8.{i}.1" if proxies == 0 else f"10.8.{i}.1, 203.0.113.60"

    for i in range(5):
        token(api, f"guess{i}", "wrong", remote=remote, HTTP_X_FORWARDED_FOR=spoofed(i))
    assert_locked_out(token(api, "ada", PASSWORD, remote=remote, HTTP_X_FORWARDED_FOR=spoofed(99)))
    assert AccessAttempt.objects.values_list("ip_address", flat=True).distinct().get() == (
        "198.51.100.1" if proxies == 0 else "203.0.113.60"
    )
    if proxies:
        # Another client behind the same proxy is not locked.
        assert token(api, "ada", PASSWORD, remote=remote, HTTP_X_FORWARDED_FOR="203.0.113.61").status_code == 200


@pytest.mark.django_db
def test_signing_in_works_again_after_the_cool_off(api, no_token_throttle):
    UserFactory(username="ada")
    for _ in range(5):
        token(api, "ada", "wrong")
    assert_locked_out(token(api, "ada", PASSWORD))
    # 14 minutes on: still locked (and this attempt, failed, starts the cool-off again).
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=14))
    assert_locked_out(token(api, "ada", PASSWORD))
    # 15 minutes after the last failure, the failures have expired.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=15, seconds=1))
    assert token(api, "ada", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_staff_can_lift_a_lockout(api, no_token_throttle):
    UserFactory(username="ada")
    for _ in range(5):
        token(api, "ada", "wrong")
    assert_locked_out(token(api, "ada", PASSWORD))
    axes_reset(username="ada")
    assert token(api, "ada", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_a_lockout_under_asgi_is_the_same_429():
    """daphne runs the middleware chain asynchronously, where axes calls the lockout response
    with other arguments."""
    UserFactory(username="ada")
    client = AsyncClient()

    def post(password):
        return async_to_sync(client.post)(
            "/api/auth/token/", {"username": "ada", "password": password}, content_type="application/json"
        )

    assert [post("wrong").status_code for _ in range(4)] == [400] * 4
    assert_locked_out(post("wrong"))
    assert_locked_out(post(PASSWORD))


@pytest.mark.django_db
def test_the_sign_in_form_says_why_it_refuses(client):
    UserFactory(username="ada")
    for _ in range(4):
        page = client.post("/accounts/login/", {"username": "ada", "password": "wrong"})
        assert page.status_code == 200 and b"correct username and password" in page.content
    for password in ("wrong", PASSWORD):
        page = client.post("/accounts/login/", {"username": "ada", "password": password, "next": "/dashboard/"})
        assert page.status_code == 429
        text = page.content.decode()
        assert "Too many failed sign-in attempts for this account or from this address" in text
        assert "Try again in 15 minutes." in text
        # The form is there, with the username kept, and nobody is signed in.
        assert '<form method="post"' in text and 'value="ada"' in text and 'value="/dashboard/"' in text
        assert "_auth_user_id" not in client.session
    assert client.get("/dashboard/").status_code == 302


@pytest.mark.django_db
def test_the_schema_documents_the_lockout_on_the_token_endpoint(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    responses = schema["paths"]["/api/auth/token/"]["post"]["responses"]
    assert "`locked_out`" in responses["429"]["description"] and "`throttled`" in responses["429"]["description"]
    assert responses["429"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


# --- Links on the served port -----------------------------------------------------------------

LINKS = """
import json
from django.conf import settings
from django.core import mail
from django.test import Client
from rooms.models import Space
from scheduling import services
from scheduling.models import Notification

space = Space.objects.get(code="PortLinks001")
ics = Client().get("/s/PortLinks001/calendar.ics").content.decode()
notification = Notification.objects.get(space=space)
services.notification_email_send(notification_id=notification.pk)
print(json.dumps({"site": settings.SITE_URL, "share": space.share_url, "ics": ics, "email": mail.outbox[0].body}))
"""


@pytest.mark.django_db(transaction=True)
def test_links_follow_the_port_the_app_is_served_on(monkeypatch):
    """``make run SPACES_PORT=9000`` (the Makefile exports it) with no SITE_URL: share links,
    emails and calendar files point at port 9000."""
    from scheduling.models import Notification

    space = SpaceFactory(code="PortLinks001", scheduled=True)
    user = UserFactory(email="fan@example.com")
    Notification.objects.create(user=user, space=space, kind="space_started", message="It started")
    monkeypatch.delenv("SITE_URL", raising=False)
    env = {
        "SPACES_PORT": "9000",
        "DATABASE_URL": database_url(),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    result = manage("shell", "-c", LINKS, env=env)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    link = "http://127.0.0.1:9000/s/PortLinks001/"
    assert seen["site"] == "http://127.0.0.1:9000" and seen["share"] == link
    assert f"URL:{link}" in seen["ics"] and link in seen["email"]
    # An explicit SITE_URL still wins.
    result = manage("shell", "-c", "from django.conf import settings; print(settings.SITE_URL)",
                    env={"SPACES_PORT": "9000", "SITE_URL": "https://spaces.example.org/"})
    assert result.stdout.strip().splitlines()[-1] == "https://spaces.example.org"


# --- /healthz -----------------------------------------------------------------------------------


class FakeJanus(BaseHTTPRequestHandler):
    """Answers Janus's ``info`` request as Janus does."""

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"janus": "server_info", "transaction": request.get("transaction"), "name": "Janus"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def janus_up(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJanus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.JANUS = {**settings.JANUS, "ENABLED": True, "URL": f"http://127.0.0.1:{server.server_port}/janus"}
    yield
    server.shutdown()
    server.server_close()


@pytest.fixture
def janus_down(settings):
    settings.JANUS = {**settings.JANUS, "ENABLED": True, "URL": f"http://127.0.0.1:{free_port()}/janus"}


def heartbeat(seconds_ago=0.0):
    """What a worker records when it runs the heartbeat beat sent ``seconds_ago``."""
    cache.set_many({health.WORKER_SEEN: time.time() - seconds_ago, health.BEAT_SEEN: time.time() - seconds_ago - 0.1})


@pytest.mark.django_db
def test_healthz_is_ok_when_everything_answers(client, janus_up):
    heartbeat()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "janus": "ok", "worker": "ok", "beat": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_says_janus_is_down_with_a_503(client, janus_down):
    heartbeat()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "janus": "down", "worker": "ok", "beat": "ok"}


@pytest.mark.django_db
def test_healthz_with_janus_disabled(client, settings):
    settings.JANUS = {**settings.JANUS, "ENABLED": False}
    heartbeat()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["checks"]["janus"] == "disabled"


@pytest.mark.django_db
def test_healthz_reports_stale_and_missing_heartbeats(client, settings, janus_up):
    heartbeat(seconds_ago=61)
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["checks"]["worker"] == "stale" and body["checks"]["beat"] == "stale"
    settings.SPACES_HEARTBEAT_STALE = 120
    assert client.get("/healthz").status_code == 200
    cache.delete_many([health.WORKER_SEEN, health.BEAT_SEEN])
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["checks"]["worker"] == "down"


@pytest.mark.django_db
def test_healthz_is_down_without_redis(client, settings, janus_up):
    heartbeat()
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "down" and response.json()["checks"]["redis"] == "down"


def test_the_heartbeat_records_the_beat_when_it_sent_it_and_never_goes_back(settings):
    sent = time.time() - 5
    heartbeat_task(sent)
    ages = health.heartbeat_ages()
    assert 5 <= ages["beat"] < 6 and ages["worker"] < 1
    heartbeat_task(sent - 30)  # an older heartbeat run late
    assert 5 <= health.heartbeat_ages()["beat"] < 6


def test_beat_hands_the_heartbeat_the_moment_it_sends_it():
    """The beat entry runs through spaces.celery.Scheduler (tasks run eagerly in tests)."""
    from celery.beat import ScheduleEntry
    from celery.schedules import schedule

    scheduler = Scheduler(app=celery_app, lazy=True, schedule_filename=os.devnull)
    entry = ScheduleEntry(name="heartbeat", task=HEARTBEAT_TASK, schedule=schedule(15), app=celery_app)
    before = time.time()
    scheduler.apply_async(entry, advance=False)
    assert before <= cache.get(health.BEAT_SEEN) <= time.time()
    assert celery_app.conf.beat_scheduler == "spaces.celery:Scheduler"
    assert celery_app.conf.beat_schedule["heartbeat"]["task"] == HEARTBEAT_TASK


HEALTHZ_OVER_HTTP = """
import json
from django.test import Client
local = Client(HTTP_HOST="127.0.0.1:8000")
healthz, metrics = local.get("/healthz"), local.get("/metrics")
page = Client(HTTP_HOST="spaces.example.org").get("/")
print(json.dumps({"healthz": [healthz.status_code, healthz["Content-Type"]], "metrics": metrics.status_code,
                  "page": page.status_code}))
"""


@pytest.mark.django_db
def test_a_probe_on_this_machine_reads_healthz_and_metrics_over_http_under_production_settings():
    env = production(ALLOWED_HOSTS="spaces.example.org", DATABASE_URL=database_url(), JANUS_ENABLED="0")
    result = manage("shell", "-c", HEALTHZ_OVER_HTTP, env=env)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # No heartbeat in this run's cache: degraded, but answered, not redirected to https.
    assert seen == {"healthz": [503, "application/json"], "metrics": 200, "page": 301}


# --- A real worker and beat ---------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_keep_healthz_green_and_it_notices_when_they_stop(client, settings, tmp_path, janus_up):
    from .test_celery_worker import Celery

    broker = "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(broker).flushdb()
        reachable = True
    except redis.ConnectionError:
        reachable = False
    require(reachable, "Redis is needed for the Celery tests")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "CACHE_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "CHANNEL_PREFIX": f"ops-test-{uuid.uuid4().hex[:6]}",
        "SPACES_MEDIA_SERVER": "rooms.media.fake.FakeMediaServer",
        "SPACES_HEARTBEAT_INTERVAL": "0.5",
        "WORKER_LOG_DIR": str(tmp_path),
    }
    worker = Celery("w1", env, "worker", "--concurrency", "1", "--without-gossip", "--without-mingle", "-n", "w1@%h",
                    ready_line="ready.")
    beat = Celery("beat", env, "beat", "--schedule", str(tmp_path / "beat"), ready_line="beat: Starting")
    try:
        assert wait_for(lambda: client.get("/healthz").status_code == 200, timeout=15), (worker.tail(), beat.tail())
        settings.SPACES_HEARTBEAT_STALE = 2
        beat.kill()
        assert wait_for(lambda: client.get("/healthz").json()["checks"]["beat"] == "stale", timeout=8)
        assert client.get("/healthz").status_code == 503
    finally:
        worker.stop(signal.SIGTERM)
        beat.stop()


# --- /metrics -----------------------------------------------------------------------------------


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


@pytest.mark.django_db
def test_metrics_count_live_spaces_open_websockets_joins_janus_and_celery_lag(
    client, api, janus_up, django_capture_on_commit_callbacks
):
    first = SpaceFactory()
    SpaceFactory()
    SpaceFactory(scheduled=True)
    before = scrape(client)
    assert before["spaces_live"] == 2 and before["spaces_websockets_open"] == 0
    assert before["spaces_janus_up"] == 1 and before["spaces_celery_lag_seconds"] == math.inf

    # Two people join over the API; one of them again, which is not a join.
    ada, bob = UserFactory(), UserFactory()
    for person in (ada, bob, ada):
        api.force_authenticate(person)
        with django_capture_on_commit_callbacks(execute=True):
            assert api.post(f"/api/spaces/{first.code}/join/", {}, format="json").status_code == 200
    # Three sockets, one of them closed longer than the grace ago.
    participant = selectors.participant_for(space=first, visitor=Visitor.of(ada))
    for connection in ("c1", "c2", "c3"):
        presence.connection_open(first.pk, participant.pk, connection)
    presence.sync_client().zadd(presence.space_key(first.pk), {presence.member(participant.pk, "c3"): time.time() - 1})
    heartbeat(seconds_ago=7)

    after = scrape(client)
    assert after["spaces_joins_total"] - before["spaces_joins_total"] == 2
    assert after["spaces_websockets_open"] == 2
    assert 7 <= after["spaces_celery_lag_seconds"] < 9


@pytest.mark.django_db
def test_metrics_say_janus_is_down_and_leave_it_out_when_disabled(client, settings, janus_down):
    assert scrape(client)["spaces_janus_up"] == 0
    settings.JANUS = {**settings.JANUS, "ENABLED": False}
    assert "spaces_janus_up" not in scrape(client)


@pytest.mark.django_db
def test_metrics_are_for_this_machine_or_the_bearer_of_the_token(client, settings):
    settings.JANUS = {**settings.JANUS, "ENABLED": False}
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 403
    # Through a proxy on this machine: someone else's request.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5").status_code == 403


JOIN_IN_A_PROCESS = "from spaces.metrics import JOINS; [JOINS.inc() for _ in range({n})]"
SCRAPE_IN_A_PROCESS = """
from prometheus_client import generate_latest
from spaces.metrics import registry
print("--- scrape ---")
print(generate_latest(registry()).decode())
"""


@pytest.mark.django_db
def test_with_a_multiprocess_directory_every_process_counts(tmp_path):
    """deploy/web runs several daphne processes: a scrape, answered by any of them, adds them up."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "DATABASE_URL": database_url(), "JANUS_ENABLED": "0"}
    for n in (2, 3):
        result = manage("shell", "-c", JOIN_IN_A_PROCESS.format(n=n), env=env)
        assert result.returncode == 0, result.stderr
    result = manage("shell", "-c", SCRAPE_IN_A_PROCESS, env=env)
    assert result.returncode == 0, result.stderr
    scraped = result.stdout.split("--- scrape ---", 1)[1]
    samples = {s.name: s.value for f in text_string_to_metric_families(scraped) for s in f.samples}
    assert samples["spaces_joins_total"] == 5
    assert samples["spaces_live"] == 0


# --- Log lines that name their Space ------------------------------------------------------------


@pytest.fixture
def log_lines():
    """What the project's console handler would write, read back."""
    from django.conf import settings as django_settings

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.SpaceFilter())
    handler.setFormatter(logging.Formatter(django_settings.LOGGING["formatters"]["plain"]["format"]))
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)


@pytest.mark.django_db
def test_a_log_line_inside_a_request_on_a_space_carries_its_code(api, monkeypatch, log_lines):
    space = SpaceFactory(code="LogSpace0001")
    original = selectors.space_get

    def space_get(**kwargs):
        logging.getLogger("rooms.test").warning("looking the Space up")
        return original(**kwargs)

    monkeypatch.setattr(selectors, "space_get", space_get)
    assert api.post(f"/api/spaces/{space.code}/leave/", {}, format="json").status_code in (401, 409)
    logging.getLogger("rooms.test").warning("after the request")
    lines = log_lines()
    looked_up = next(line for line in lines if "looking the Space up" in line)
    assert " WARNING rooms.test space=LogSpace0001 looking the Space up" in looked_up
    # Django's own line about the refused request, written after the view, names it too.
    assert any(line.endswith(f"/api/spaces/{space.code}/leave/") and "space=LogSpace0001" in line for line in lines
               if "django.request" in line), lines
    # Nothing leaks past the request.
    assert "space=" not in next(line for line in lines if "after the request" in line)


@pytest.mark.django_db
def test_the_code_is_set_under_asgi_and_for_pages(monkeypatch, log_lines):
    space = SpaceFactory(code="LogSpace0002")
    original = selectors.space_get

    def space_get(**kwargs):
        logging.getLogger("rooms.test").warning("looking the Space up")
        return original(**kwargs)

    monkeypatch.setattr(selectors, "space_get", space_get)
    assert async_to_sync(AsyncClient().get)(f"/api/spaces/{space.code}/").status_code == 200
    assert async_to_sync(AsyncClient().get)(f"/s/{space.code}/").status_code == 200
    assert [line.split(" WARNING ")[1] for line in log_lines() if "looking the Space up" in line] == [
        "rooms.test space=LogSpace0002 looking the Space up"
    ] * 2


def test_json_lines_with_log_format_json(monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.SpaceFilter())
    handler.setFormatter(logs.JSONFormatter())
    logger = logging.getLogger("rooms.json-test")
    logger.addHandler(handler)
    try:
        token = logs.use_space("JsonSpace001")
        logger.warning("in a Space: %s", 1)
        logs.space_code.reset(token)
        logger.warning("nowhere")
        logs.use_space("bad code\nINJECTED")
        logger.warning("a code from a URL that is not one")
        logs.space_code.set(None)
    finally:
        logger.removeHandler(handler)
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "in a Space: 1" and first["space"] == "JsonSpace001" and first["level"] == "WARNING"
    assert first["logger"] == "rooms.json-test" and first["time"].endswith("+00:00")
    assert "space" not in second and "space" not in third


def test_settings_choose_json_lines_from_log_format():
    result = manage("shell", "-c", "from django.conf import settings; print(settings.LOGGING['handlers']['console']['formatter'])",
                    env={"LOG_FORMAT": "json"})
    assert result.stdout.strip().splitlines()[-1] == "json"
    result = manage("shell", "-c", "import logging; logging.getLogger('rooms').warning('hello')", env={"LOG_FORMAT": "json"})
    assert json.loads(result.stderr.strip().splitlines()[-1])["message"] == "hello"


@pytest.mark.django_db
def test_a_celery_task_that_takes_a_space_id_logs_with_its_code(monkeypatch, log_lines):
    from rooms import tasks

    space = SpaceFactory(code="LogSpace0003")

    def media_room_sync(*, space_id):
        logging.getLogger("rooms.test").warning("syncing")

    monkeypatch.setattr(services, "media_room_sync", media_room_sync)
    tasks.media_room_sync_task.delay(space.pk)  # eager in tests: prerun and postrun still run
    logging.getLogger("rooms.test").warning("after the task")
    lines = log_lines()
    assert any(line.endswith("rooms.test space=LogSpace0003 syncing") for line in lines), lines
    assert any(line.endswith("rooms.test after the task") for line in lines), lines


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_websocket_logs_with_its_space(monkeypatch, log_lines):
    space = await _create_space("LogSpace0004")
    original = selectors.space_get

    def space_get(**kwargs):
        logging.getLogger("rooms.test").warning("socket looks the Space up")
        return original(**kwargs)

    monkeypatch.setattr(selectors, "space_get", space_get)
    socket = WebsocketCommunicator(application, f"/ws/spaces/{space.code}/", headers=[(b"origin", b"http://testserver")])
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_json_from(timeout=3)
    await socket.disconnect()
    assert any(line.endswith("rooms.test space=LogSpace0004 socket looks the Space up") for line in log_lines()), log_lines()


async def _create_space(code):
    from asgiref.sync import sync_to_async

    return await sync_to_async(SpaceFactory)(code=code)
