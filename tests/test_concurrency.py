"""The rules hold under concurrent requests: real threads, the real HTTP API, PostgreSQL row locks."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
import requests
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from rooms.identity import Visitor
from rooms import services
from rooms.models import Participant, Space

from .factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# The test server's listen backlog is socketserver's default of 5: fifty requests released at
# once would be refused by the kernel before Django saw them. A real deployment's is far larger.
ThreadedWSGIServer.request_queue_size = 128


def token_for(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def in_parallel(calls) -> list[requests.Response]:
    """Run every call at the same moment (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        with requests.Session() as session:
            barrier.wait()
            results[i] = call(session)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def on_postgres():
    assert connection.vendor == "postgresql", "concurrency rules are proven on PostgreSQL"


def change_roles_in_parallel(live_server, *, listeners: int, role: str):
    """A live Space with ``listeners`` signed-in listeners; its host gives all of them ``role`` at
    the same moment through the API."""
    host = UserFactory()
    space = services.space_create(host=host, title="Crowded stage")
    people = [services.space_join(space=space, visitor=Visitor.of(UserFactory())) for _ in range(listeners)]
    auth = {"Authorization": f"Token {token_for(host)}"}
    url = f"{live_server.url}/api/spaces/{space.code}/participants/%s/"
    responses = in_parallel(
        [lambda s, p=p: s.patch(url % p.uid, json={"role": role}, headers=auth) for p in people]
    )
    return space, responses


def test_fifty_parallel_promotions_leave_exactly_thirteen_speaking_roles(live_server, on_postgres, settings):
    space, responses = change_roles_in_parallel(live_server, listeners=50, role="speaker")

    # The host holds one of the 13 seats: 12 promotions succeed, 38 are refused.
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: settings.SPACES_MAX_SPEAKERS - 1, 409: 50 - (settings.SPACES_MAX_SPEAKERS - 1)}
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {body["code"] for body in refused} == {"speaker_limit"}
    assert all("13" in body["detail"] for body in refused)
    speaking = space.participants.filter(role__in=Participant.SPEAKING_ROLES).count()
    assert speaking == settings.SPACES_MAX_SPEAKERS == 13


def test_twenty_parallel_schedule_calls_by_one_host_leave_exactly_one(live_server, on_postgres):
    host = UserFactory()
    auth = {"Authorization": f"Token {token_for(host)}"}
    when = (timezone.now() + timedelta(days=2)).isoformat()

    responses = in_parallel(
        [
            lambda s, i=i: s.post(
                f"{live_server.url}/api/spaces/", json={"title": f"Show {i}", "scheduled_for": when}, headers=auth
            )
            for i in range(20)
        ]
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 19}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"one_scheduled_space"}
    assert Space.objects.filter(host=host, state="scheduled").count() == 1


def test_ten_parallel_cohost_appointments_leave_exactly_two(live_server, on_postgres, settings):
    space, responses = change_roles_in_parallel(live_server, listeners=10, role="cohost")

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 2, 409: 8}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"cohost_limit"}
    assert space.participants.filter(role="cohost").count() == settings.SPACES_MAX_COHOSTS == 2


def test_ten_parallel_start_now_calls_leave_one_live_space(live_server, on_postgres):
    host = UserFactory()
    auth = {"Authorization": f"Token {token_for(host)}"}
    responses = in_parallel(
        [lambda s, i=i: s.post(f"{live_server.url}/api/spaces/", json={"title": f"Live {i}"}, headers=auth) for i in range(10)]
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 9}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"one_live_space"}
