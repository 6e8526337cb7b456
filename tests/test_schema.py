"""The published OpenAPI schema tells the truth: schemathesis runs every operation of /api/schema/
against the real app (daphne in a subprocess, on this test's database) and checks each response:
no 5xx, only documented statuses, bodies that match the documented schema, and refusals of data
the schema says is invalid.

Path parameters hit real objects (a live, a scheduled and an ended Space with fixed codes, real
participant ids and notification ids) most of the time, and random ones the rest; requests come in
turn from the host, a co-host, a speaker, a listener, a stranger, staff, nobody, a wrong token and
a session cookie without CSRF token. After any successful write the seeded world is put back, so
every example meets the same Spaces.

Deterministic (fixed seed, derandomized), no shrinking: a failure names the check, the operation,
who sent it and a curl line to replay it. See docs/API.md, "Keeping the schema truthful".
"""

import json
import os
import sys
import uuid
from collections import Counter, defaultdict
from datetime import timedelta

import pytest
import requests
import schemathesis
from axes.utils import reset as axes_reset
from django.conf import settings
from django.test import Client
from django.utils import timezone
from redis import Redis
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from rooms.models import Space
from scheduling.models import Notification, Reminder

from .factories import ParticipantFactory, SpaceFactory, UserFactory
from .processes import Process, free_port, test_database_url, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

EXAMPLES = int(os.environ.get("SCHEMA_TEST_EXAMPLES", "30"))
SEED = int(os.environ.get("SCHEMA_TEST_SEED", "20261204"))
PASSWORD = "correct horse battery"

LIVE, SCHEDULED, ENDED = "LiveSpace001", "Scheduled001", "EndedSpace01"
HOST_UID, COHOST_UID, SPEAKER_UID, LISTENER_UID, ANON_UID = "PHost0001", "PCohost01", "PSpeaker1", "PListen01", "PAnon0001"
UIDS = [HOST_UID, COHOST_UID, SPEAKER_UID, LISTENER_UID, ANON_UID]
NOTIFICATION_IDS = [990001, 990002]
MEDIA_ROOM = 424242

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# Who makes a request, in turn: the host, who may do the most, comes up most often.
IDENTITIES = [
    "host", "listener", "host", "anonymous", "speaker", "host", "cohost", "stranger", "anonymous", "staff",
    "wrong_token", "session_no_csrf",
]


class World:
    """The seeded people and Spaces, and how to put them back after a request changed them."""

    def __init__(self, cache_prefix: str):
        self.cache_prefix = cache_prefix
        self.users = {name: UserFactory(username=name) for name in ("ada", "bob", "cy", "dee", "eve")}
        self.users["sam"] = UserFactory(username="sam", is_staff=True)
        self.tokens = {name: Token.objects.create(user=user).key for name, user in self.users.items()}
        client = Client()
        client.force_login(self.users["ada"])
        self.session_cookie = client.cookies["sessionid"].value
        # Statuses met per operation and identity, written out with SCHEMA_TEST_STATS=<file>.
        self.seen = defaultdict(Counter)
        self.requests = 0
        self.token_attempts = 0
        self.seed()

    def seed(self):
        ada, bob, cy, dee, eve = (self.users[n] for n in ("ada", "bob", "cy", "dee", "eve"))
        Notification.objects.filter(user__in=self.users.values()).delete()
        Space.objects.filter(host__in=self.users.values()).delete()
        now = timezone.now()
        live = SpaceFactory(
            code=LIVE, host=ada, title="Live now", description="On air", media_room_id=MEDIA_ROOM, record=True
        )
        ParticipantFactory(uid=HOST_UID, space=live, user=ada, role="host", media_token="host-media-token")
        ParticipantFactory(uid=COHOST_UID, space=live, user=dee, role="cohost", media_token="cohost-media-token")
        ParticipantFactory(uid=SPEAKER_UID, space=live, user=cy, role="speaker", media_token="speaker-media-token")
        ParticipantFactory(uid=LISTENER_UID, space=live, user=bob, hand_raised_at=now)
        ParticipantFactory(uid=ANON_UID, space=live, user=None, anon_id="anon-seeded", display_name="Listener 7")
        # Hosted by the co-host: ada's live Space would keep her from starting another.
        scheduled = SpaceFactory(code=SCHEDULED, host=dee, title="Later", scheduled=True)
        Reminder.objects.create(space=scheduled, user=bob)
        ended = SpaceFactory(
            code=ENDED, host=eve, title="Was live", state=Space.State.ENDED, started_at=now - timedelta(hours=2),
            ended_at=now - timedelta(hours=1), peak_listeners=3, record=True,
            replay=f"recordings/space-{ENDED}.wav", replay_expires_at=now + timedelta(days=30),
        )
        ParticipantFactory(space=ended, user=eve, role="host", left_at=now - timedelta(hours=1))
        Notification.objects.create(
            pk=NOTIFICATION_IDS[0], user=ada, space=ended, kind="space_ended", message="Your Space ended"
        )
        Notification.objects.create(
            pk=NOTIFICATION_IDS[1], user=ada, space=live, kind="your_space_live", message="You are live", read_at=now
        )

    def token_attempt(self):
        """The token endpoint allows 20 attempts a minute, and locks an address out after 5 failed
        ones: start afresh every 30 attempts, so its examples meet both the 200 and the 429."""
        self.token_attempts += 1
        if self.token_attempts % 30 == 0:
            axes_reset()
            redis = Redis.from_url(settings.CACHES["default"]["LOCATION"])
            for key in redis.scan_iter(f"{self.cache_prefix}:*throttle_*"):
                redis.delete(key)
            redis.close()

    def next_identity(self) -> str:
        """Who sends the next request: each in turn, so every operation meets every identity."""
        self.requests += 1
        return IDENTITIES[self.requests % len(IDENTITIES)]

    def headers(self, identity: str) -> dict:
        name = {"host": "ada", "listener": "bob", "speaker": "cy", "cohost": "dee", "stranger": "eve", "staff": "sam"}.get(
            identity
        )
        if name:
            return {"Authorization": f"Token {self.tokens[name]}"}
        if identity == "wrong_token":
            return {"Authorization": "Token not-a-real-token"}
        if identity == "session_no_csrf":
            return {"Cookie": f"sessionid={self.session_cookie}"}
        return {}


@pytest.fixture
def app(transactional_db, settings, tmp_path):
    """The app in a daphne subprocess, on this test's database."""

    cache_prefix = f"schema-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        # Throttle counters start empty, apart from every other run.
        "CACHE_PREFIX": cache_prefix,
        # Tasks stay in the process instead of reaching any worker on the shared Redis.
        "CELERY_BROKER_URL": "memory://",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "JANUS_ENABLED": "0",
        # Media credentials carry TURN credentials: the schema must describe them as they come.
        "TURN_HOST": "turn.example.org",
        "TURN_SECRET": "schema-test-turn-secret",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "LOG_LEVEL": "WARNING",
    }
    # The app's settings, with the fast password hasher the in-process tests use (conftest.py):
    # the seeded people's passwords are stored with it, and the token endpoint stays quick.
    (tmp_path / "schema_test_settings.py").write_text(
        "from spaces.settings import *  # noqa: F403\n"
        "PASSWORD_HASHERS = ['django.contrib.auth.hashers.MD5PasswordHasher']\n"
    )
    env["DJANGO_SETTINGS_MODULE"] = "schema_test_settings"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    port = free_port()
    server = Process(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "spaces.asgi:application"],
        env,
        tmp_path / "daphne.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: requests.get(f"{url}/api/schema/", timeout=2).ok, timeout=60), server.tail()
        yield {"url": url, "cache_prefix": cache_prefix}
    finally:
        server.stop()


@pytest.fixture
def world(app):
    world = World(app["cache_prefix"])
    yield world
    if os.environ.get("SCHEMA_TEST_STATS"):
        with open(os.environ["SCHEMA_TEST_STATS"], "w") as out:
            json.dump({operation: dict(sorted(seen.items())) for operation, seen in sorted(world.seen.items())}, out, indent=1)


@pytest.fixture
def api_schema(app, world):
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES,
                "deterministic": True,
                "no-shrink": True,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}},
            "suppress-health-check": ["all"],
            "dictionaries": {
                # Most of what can be done happens in the live Space.
                "codes": {"values": [LIVE, LIVE, SCHEDULED, ENDED]},
                "uids": {"values": UIDS},
                "notifications": {"values": NOTIFICATION_IDS},
                "usernames": {"values": ["ada", "bob"]},
                "passwords": {"values": [PASSWORD]},
            },
            "parameters": {
                "path.code": {"dictionary": "codes", "probability": 0.7},
                "path.uid": {"dictionary": "uids", "probability": 0.7},
                "path.notification_id": {"dictionary": "notifications", "probability": 0.6},
                "body.username": {"dictionary": "usernames", "probability": 0.5},
                "body.password": {"dictionary": "passwords", "probability": 0.5},
            },
        }
    )
    return schemathesis.openapi.from_url(f"{app['url']}/api/schema/?format=json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")
if os.environ.get("SCHEMA_TEST_ONLY"):
    # A regular expression over operation paths, to run a few while working on them.
    schema = schema.include(path_regex=os.environ["SCHEMA_TEST_ONLY"])


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request):
    """schemathesis 4.32 renames the running test per operation through ``node._nodeid``, which
    pytest 9 no longer has; giving it one keeps its per-operation reports."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
def test_every_operation_keeps_to_the_published_schema(case, world):
    identity = world.next_identity()
    if case.operation.path == "/api/auth/token/":
        world.token_attempt()
    response = case.call(headers=world.headers(identity), timeout=30)
    world.seen[f"{case.method.upper()} {case.operation.path}"][f"{response.status_code} {identity}"] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as failure:
        sent_as = world.headers(identity) or "no credentials"
        raise AssertionError(f"{case.method} {case.formatted_path} sent as {identity}: {sent_as}") from failure
    finally:
        if case.method.upper() != "GET" and 200 <= response.status_code < 300:
            world.seed()


@pytest.mark.django_db
def test_the_wire_functions_give_what_the_api_sends(api, settings):
    """``rooms.wire.space_wire``/``participant_wire`` (for websocket frames) are the API's JSON, as
    plain dicts and lists of JSON types, times in UTC with a Z."""
    settings.SITE_URL = "http://testserver"  # the API's links follow the request's host, frames SITE_URL
    from rooms import selectors
    from rooms.wire import participant_wire, space_wire

    live = SpaceFactory(code=LIVE, media_room_id=MEDIA_ROOM)
    host = ParticipantFactory(space=live, user=live.host, role="host", media_token="t")
    ParticipantFactory(space=live, hand_raised_at=timezone.now())
    scheduled = SpaceFactory(code=SCHEDULED, scheduled=True)

    for space in (live, scheduled):
        wire = space_wire(selectors.space_get(code=space.code))
        assert wire == api.get(f"/api/spaces/{space.code}/").json()
        assert json.loads(json.dumps(wire)) == wire
        assert type(wire) is dict and type(wire["host"]) is dict and type(wire["speakers"]) is list
        assert all(type(speaker) is dict for speaker in wire["speakers"])
    assert space_wire(live)["started_at"].endswith("Z") and space_wire(live)["ended_at"] is None
    assert space_wire(scheduled)["scheduled_for"].endswith("Z") and space_wire(scheduled)["started_at"] is None

    wire = participant_wire(host)
    assert type(wire) is dict and json.loads(json.dumps(wire)) == wire
    listed = {p["id"]: p for p in api.get(f"/api/spaces/{LIVE}/participants/").json()}
    assert listed[host.uid] == wire
    assert wire["joined_at"].endswith("Z")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, path, hint",
    [
        ("get", "/api/nothing/here/", "nothing at this address"),
        ("post", "/api/notifications/null,null/read/", "nothing at this address"),
        ("get", "/api/spaces/a%2Fb/", "nothing at this address"),
        ("post", "/api/spaces", "Add a trailing slash: /api/spaces/"),
    ],
)
def test_addresses_under_api_that_match_nothing_are_json_404s(api, method, path, hint):
    response = getattr(api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found" and hint in response.json()["detail"]
