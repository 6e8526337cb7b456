"""Bad input on every endpoint gets a 4xx with a message a person can act on; never a 500."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from rooms.identity import Visitor
from rooms import services
from rooms.models import Participant, Space

from .factories import UserFactory

pytestmark = pytest.mark.django_db

HUGE = "x" * 10_240

BAD_BODIES = {
    "wrong types": {"title": 12, "description": ["a"], "scheduled_for": 5, "role": 7, "muted": "yes", "block": "no", "record": "on", "quiet": 3},
    "huge strings": {"title": HUGE, "description": HUGE, "scheduled_for": HUGE, "role": HUGE, "muted": HUGE, "block": HUGE},
    "naive datetime": {"title": "ok", "scheduled_for": "2031-01-01T10:00:00"},
    "nonsense datetime": {"title": "ok", "scheduled_for": "next tuesday"},
    "nulls": {"title": None, "description": None, "scheduled_for": None, "role": None, "muted": None, "block": None},
    "empty title": {"title": ""},
    "nul characters": {"title": "a\x00b", "description": "c\x00d", "role": "spea\x00ker"},
}

RAW_BODIES = {
    "malformed json": ("{not json", "application/json"),
    "json array": ("[1, 2, 3]", "application/json"),
    "json string": ('"hello"', "application/json"),
    "form encoded": ("title=hello", "application/x-www-form-urlencoded"),
    "plain text": ("hello", "text/plain"),
    "deep nesting": ("[" * 5000 + "]" * 5000, "application/json"),
}


@pytest.fixture
def room():
    host = UserFactory(username="host")
    live = services.space_create(host=host, title="Live")
    listener = services.space_join(space=live, visitor=Visitor.of(UserFactory()))
    speaker = services.space_join(space=live, visitor=Visitor.of(UserFactory()))
    services.participant_set_role(space=live, actor=host, participant=speaker, role="speaker")
    scheduled = services.space_create(host=host, title="Later", scheduled_for=timezone.now() + timedelta(days=1))
    client = APIClient()
    client.force_authenticate(host)
    return {"host": host, "live": live, "scheduled": scheduled, "listener": listener, "speaker": speaker, "client": client}


def endpoints(room) -> list[tuple[str, str]]:
    live, scheduled = room["live"].code, room["scheduled"].code
    uid = room["listener"].uid
    return [
        ("post", "/api/auth/token/"),
        ("post", "/api/spaces/"),
        ("patch", f"/api/spaces/{live}/"),
        ("patch", f"/api/spaces/{scheduled}/"),
        ("post", f"/api/spaces/{scheduled}/start/"),
        ("post", f"/api/spaces/{live}/join/"),
        ("post", f"/api/spaces/{live}/hand/"),
        ("post", f"/api/spaces/{scheduled}/reminder/"),
        ("patch", f"/api/spaces/{live}/participants/{uid}/"),
        ("post", f"/api/spaces/{live}/participants/{uid}/remove/"),
    ]


def assert_clear_4xx(response):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"]


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_json_bodies_get_a_clear_4xx_everywhere(room, case):
    before = snapshot()
    for method, url in endpoints(room):
        response = getattr(room["client"], method)(url, BAD_BODIES[case], format="json")
        if response.status_code < 400:
            # Some endpoints ignore fields they do not take (start, hand, reminder): fine, but
            # the rest of the body must not have changed anything else.
            continue
        assert_clear_4xx(response)
    assert Space.objects.filter(title__in=[HUGE, ""]).count() == 0
    assert before["titles"] <= snapshot()["titles"] | {"Live", "Later"}


@pytest.mark.parametrize("case", sorted(RAW_BODIES))
def test_malformed_requests_get_a_clear_4xx_everywhere(room, case):
    body, content_type = RAW_BODIES[case]
    for method, url in endpoints(room):
        response = getattr(room["client"], method)(url, body, content_type=content_type)
        if url.endswith(("/start/", "/hand/", "/reminder/")) and response.status_code < 400:
            continue  # these take no body; a body they ignore is harmless
        assert_clear_4xx(response)


def test_the_bad_bodies_changed_nothing(room):
    before = snapshot()
    for name in ("wrong types", "huge strings", "nulls", "naive datetime"):
        case = BAD_BODIES[name]
        for method, url in endpoints(room):
            if url.endswith(("/start/", "/hand/", "/reminder/")) or (
                url.endswith("/remove/") and "block" not in case
            ):
                continue
            getattr(room["client"], method)(url, case, format="json")
    assert snapshot() == before


def snapshot() -> dict:
    return {
        "titles": set(Space.objects.values_list("title", flat=True)),
        "spaces": list(Space.objects.order_by("pk").values("title", "description", "state", "scheduled_for")),
        "people": list(Participant.objects.order_by("pk").values("role", "muted", "removed_at")),
    }


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/spaces/nope/"),
        ("patch", "/api/spaces/nope/"),
        ("post", "/api/spaces/nope/join/"),
        ("post", "/api/spaces/nope/end/"),
        ("get", "/api/spaces/nope/participants/"),
        ("get", "/api/spaces/" + "z" * 5000 + "/"),
        ("get", "/api/spaces/%00%ff/"),
    ],
)
def test_unknown_space_codes_are_404_with_a_message(room, method, path):
    response = getattr(room["client"], method)(path, {}, format="json")
    assert response.status_code == 404
    assert_clear_4xx(response)


@pytest.mark.parametrize("suffix", ["", "remove/"])
def test_unknown_participant_ids_are_404(room, suffix):
    url = f"/api/spaces/{room['live'].code}/participants/not-a-person/{suffix}"
    response = (room["client"].patch if not suffix else room["client"].post)(url, {"role": "speaker"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "participant_not_found"


def test_a_participant_of_another_space_is_not_found_here(room):
    other_host = UserFactory()
    other = services.space_create(host=other_host, title="Elsewhere")
    stranger = services.space_join(space=other, visitor=Visitor.of(UserFactory()))
    url = f"/api/spaces/{room['live'].code}/participants/{stranger.uid}/"
    response = room["client"].patch(url, {"role": "speaker"}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize("state", ["banana", "LIVE", "x" * 1000])
def test_unknown_listing_filter_is_a_400(api, state):
    response = api.get("/api/spaces/", {"state": state})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_state_filter"


@pytest.mark.parametrize("page", ["0", "-1", "abc", "999999"])
def test_bad_pages_are_404_not_500(api, page):
    assert_clear_4xx(api.get("/api/spaces/", {"page": page}))


def test_naive_datetime_message_says_to_add_an_offset(room):
    response = room["client"].post("/api/spaces/", {"title": "x", "scheduled_for": "2031-01-01T10:00:00"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "naive_datetime"
    assert "offset" in response.json()["detail"]


def test_empty_participant_patch_says_what_to_send(room):
    url = f"/api/spaces/{room['live'].code}/participants/{room['speaker'].uid}/"
    response = room["client"].patch(url, {}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()["detail"]


def test_unknown_role_is_refused(room):
    url = f"/api/spaces/{room['live'].code}/participants/{room['listener'].uid}/"
    response = room["client"].patch(url, {"role": "host"}, format="json")
    assert response.status_code == 400
    assert_clear_4xx(response)


def test_wrong_method_is_405_with_a_message(room):
    response = room["client"].delete(f"/api/spaces/{room['live'].code}/")
    assert response.status_code == 405
    assert_clear_4xx(response)


def test_an_edit_with_a_bad_new_time_changes_nothing(room):
    url = f"/api/spaces/{room['scheduled'].code}/"
    response = room["client"].patch(url, {"title": "Renamed", "scheduled_for": "2020-01-01T10:00:00Z"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "in_the_past"
    room["scheduled"].refresh_from_db()
    assert room["scheduled"].title == "Later"
