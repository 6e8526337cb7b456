"""Who may do what, as a table: every mutating endpoint × every kind of caller.

Allowed callers succeed; the others get 401 (signed out) or 403 (signed in, not allowed), and the
database is exactly as it was.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from rooms.identity import Visitor
from rooms import services
from rooms.models import Participant, Space
from scheduling.models import Reminder

from .factories import UserFactory

pytestmark = pytest.mark.django_db

ACTORS = ["signed_out", "listener", "speaker", "cohost", "host", "other", "staff"]

# action -> the callers who may do it. Staff moderate (edit, start, end, cancel any Space) but
# are not co-hosts: stage controls belong to the people running the room.
ALLOWED = {
    "edit": {"host", "staff"},
    "reschedule": {"host", "staff"},
    "start": {"host", "staff"},
    "end": {"host", "staff"},
    "cancel": {"host", "staff"},
    "promote": {"host", "cohost"},
    "demote": {"host", "cohost"},
    "appoint_cohost": {"host"},
    "revoke_cohost": {"host"},
    "mute": {"host", "cohost"},
    "remove": {"host", "cohost"},
    "block": {"host", "cohost"},
}


class Room:
    """A live Space with one person in each role, a scheduled Space by the same host, and two
    targets (a listener and a speaker) for the stage controls."""

    def __init__(self):
        self.users = {name: UserFactory(username=name) for name in ACTORS if name != "signed_out"}
        self.users["staff"].is_staff = True
        self.users["staff"].save()
        host = self.users["host"]
        self.live = services.space_create(host=host, title="Live show")
        self.scheduled = services.space_create(
            host=host, title="Next show", scheduled_for=timezone.now() + timedelta(days=1)
        )
        for name in ("listener", "speaker", "cohost"):
            services.space_join(space=self.live, visitor=Visitor.of(self.users[name]))
        self.target = services.space_join(space=self.live, visitor=Visitor.of(UserFactory(username="target")))
        self.target_speaker = services.space_join(space=self.live, visitor=Visitor.of(UserFactory(username="target_speaker")))
        self.second_cohost = services.space_join(space=self.live, visitor=Visitor.of(UserFactory(username="second")))
        for name, role in (("speaker", "speaker"), ("cohost", "cohost")):
            services.participant_set_role(
                space=self.live, actor=host, participant=self.participant(name), role=role
            )
        services.participant_set_role(space=self.live, actor=host, participant=self.target_speaker, role="speaker")

    def participant(self, name: str) -> Participant:
        return self.live.participants.get(user=self.users[name])

    def client(self, actor: str) -> APIClient:
        client = APIClient()
        if actor != "signed_out":
            client.force_authenticate(self.users[actor])
        return client

    def state(self) -> list:
        spaces = list(Space.objects.order_by("pk").values("state", "title", "scheduled_for", "ended_at"))
        people = list(
            Participant.objects.order_by("pk").values("role", "muted", "removed_at", "blocked", "left_at")
        )
        return [spaces, people]


def request(room: Room, action: str, actor: str):
    live, scheduled = room.live.code, room.scheduled.code
    client = room.client(actor)
    later = (timezone.now() + timedelta(days=2)).isoformat()
    target = f"/api/spaces/{live}/participants/{room.target.uid}/"
    target_speaker = f"/api/spaces/{live}/participants/{room.target_speaker.uid}/"
    cohost = f"/api/spaces/{live}/participants/{room.participant('cohost').uid}/"
    return {
        "edit": lambda: client.patch(f"/api/spaces/{live}/", {"title": "Renamed"}, format="json"),
        "reschedule": lambda: client.patch(f"/api/spaces/{scheduled}/", {"scheduled_for": later}, format="json"),
        "start": lambda: client.post(f"/api/spaces/{scheduled}/start/"),
        "end": lambda: client.post(f"/api/spaces/{live}/end/"),
        "cancel": lambda: client.post(f"/api/spaces/{scheduled}/cancel/"),
        "promote": lambda: client.patch(target, {"role": "speaker"}, format="json"),
        "demote": lambda: client.patch(target_speaker, {"role": "listener"}, format="json"),
        "appoint_cohost": lambda: client.patch(target, {"role": "cohost"}, format="json"),
        "revoke_cohost": lambda: client.patch(cohost, {"role": "listener"}, format="json"),
        "mute": lambda: client.patch(target_speaker, {"muted": True}, format="json"),
        "remove": lambda: client.post(f"{target}remove/", {}, format="json"),
        "block": lambda: client.post(f"{target}remove/", {"block": True}, format="json"),
    }[action]()


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_authorization_matrix(action, actor):
    room = Room()
    if action == "start":
        # The host may have only one live Space: end the live one so starting is possible.
        services.space_end(space=room.live, actor=room.users["host"])
    before = room.state()

    response = request(room, action, actor)

    if actor in ALLOWED[action]:
        assert response.status_code == 200, response.content
        assert room.state() != before
    else:
        expected = 401 if actor == "signed_out" else 403
        assert response.status_code == expected, response.content
        body = response.json()
        assert body["detail"] and body["code"]
        assert room.state() == before


@pytest.mark.parametrize("actor", ACTORS)
def test_anyone_may_join_a_live_space(actor):
    room = Room()
    response = request_join(room, actor)
    assert response.status_code == 200, response.content
    assert response.json()["participant"]["present"] is True


def request_join(room: Room, actor: str):
    return room.client(actor).post(f"/api/spaces/{room.live.code}/join/", {}, format="json")


@pytest.mark.parametrize("actor", ["listener", "speaker", "cohost", "host"])
def test_participants_may_leave(actor):
    room = Room()
    response = room.client(actor).post(f"/api/spaces/{room.live.code}/leave/")
    assert response.status_code == 200, response.content
    assert room.participant(actor).left_at is not None


@pytest.mark.parametrize("actor, status", [("signed_out", 409), ("other", 409)])
def test_people_who_never_joined_cannot_leave(actor, status):
    room = Room()
    response = room.client(actor).post(f"/api/spaces/{room.live.code}/leave/")
    assert response.status_code == status
    assert response.json()["code"] == "not_participant"


@pytest.mark.parametrize(
    "actor, status",
    [("signed_out", 401), ("listener", 200), ("speaker", 409), ("cohost", 409), ("host", 409), ("other", 409)],
)
def test_only_a_signed_in_listener_raises_a_hand(actor, status):
    room = Room()
    response = room.client(actor).post(f"/api/spaces/{room.live.code}/hand/")
    assert response.status_code == status, response.content
    raised = Participant.objects.filter(hand_raised_at__isnull=False).count()
    assert raised == (1 if status == 200 else 0)


@pytest.mark.parametrize("actor", ACTORS)
def test_any_signed_in_person_may_set_a_reminder(actor):
    room = Room()
    response = room.client(actor).post(f"/api/spaces/{room.scheduled.code}/reminder/")
    if actor == "signed_out":
        assert response.status_code == 401
        assert not Reminder.objects.exists()
    else:
        assert response.status_code == 201
        assert Reminder.objects.filter(user=room.users[actor]).exists()


def test_creating_a_space_needs_an_account():
    response = APIClient().post("/api/spaces/", {"title": "Mine"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not Space.objects.exists()


def test_token_auth_works_for_scripts(api):
    UserFactory(username="script")
    token = api.post("/api/auth/token/", {"username": "script", "password": "correct horse battery"}, format="json")
    assert token.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.json()['token']}")
    assert client.post("/api/spaces/", {"title": "By script"}, format="json").status_code == 201


def test_a_wrong_password_gets_no_token(api):
    UserFactory(username="script")
    response = api.post("/api/auth/token/", {"username": "script", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


def test_session_api_calls_need_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/spaces/", {"title": "Forged"}, format="json")
    assert response.status_code == 403
    assert not Space.objects.exists()
