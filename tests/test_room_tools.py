"""The room's tools through the REST API, with the in-memory media server: a pinned link (strictly
checked), "mute all" (one transaction, enforced in the mix), a speaker's own mute (shown to
everyone, never undone by the media sync), menus that follow a full stage, and absolute links
that follow the address the request came to."""

import pytest

from rooms import services
from rooms.identity import Visitor
from rooms.models import Participant, Space
from rooms.snapshot import space_snapshot
from tests.test_media_effects import browser_joins

from .factories import UserFactory

pytestmark = pytest.mark.django_db

Role = Participant.Role


@pytest.fixture
def act(django_capture_on_commit_callbacks, media_server):
    """Run a block as a request runs: its on-commit media tasks run as it ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def space(host, act):
    with act():
        return services.space_create(host=host, title="Tools")


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def seated(space: Space, host, act, role: str = Role.SPEAKER) -> Participant:
    with act():
        person = services.space_join(space=space, visitor=Visitor.of(UserFactory()))
        return services.participant_set_role(space=space, actor=host, participant=person, role=role)


def url(space: Space, tail: str) -> str:
    return f"/api/spaces/{space.code}/{tail}"


def mix_muted(media_server, space: Space) -> set[int]:
    return media_server.room_state[fresh(space).media_room_id].muted


class TestPinnedLink:
    def test_the_host_pins_a_link_that_late_arrivals_see_and_unpins_it(self, host, space, client_for, act):
        with act():
            response = client_for(host).put(url(space, "pin/"), {"url": "https://example.org/notes?a=1", "label": " Show  notes "}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["pinned"] == {"url": "https://example.org/notes?a=1", "label": "Show notes"}
        late = services.space_join(space=space, visitor=Visitor.of(UserFactory()))
        assert space_snapshot(space_id=space.pk, viewer=late)["data"]["space"]["pinned"]["label"] == "Show notes"
        assert client_for().get(url(space, "")).json()["pinned"]["url"] == "https://example.org/notes?a=1"
        with act():
            assert client_for(host).delete(url(space, "pin/")).json()["pinned"] is None
        assert fresh(space).pinned_url == ""

    @pytest.mark.parametrize(
        "body, code",
        [
            ({"url": "javascript:alert(1)"}, "invalid_pin_url"),
            ({"url": "JavaScript://example.org/%0Aalert(1)"}, "invalid_pin_url"),
            ({"url": "data:text/html,<script>alert(1)</script>"}, "invalid_pin_url"),
            ({"url": "ftp://example.org/file"}, "invalid_pin_url"),
            ({"url": "https://"}, "invalid_pin_url"),
            ({"url": "//example.org/"}, "invalid_pin_url"),
            ({"url": "https://user:secret@example.org/"}, "invalid_pin_url"),
            ({"url": "https://example.org/a b"}, "invalid_pin_url"),
            ({"url": "https://example.org/\u0007"}, "invalid_pin_url"),
            ({"url": "https://example.org/" + "a" * 500}, "invalid_pin_url"),
            ({"url": "https://example.org/", "label": "x" * 81}, "invalid_pin_label"),
        ],
    )
    def test_anything_but_a_plain_web_address_is_a_400_saying_why(self, host, space, client_for, body, code):
        response = client_for(host).put(url(space, "pin/"), body, format="json")
        assert response.status_code == 400, response.json()
        assert response.json()["code"] == code
        assert response.json()["detail"]
        assert fresh(space).pinned_url == ""

    def test_speakers_and_listeners_cannot_pin_and_an_ended_space_has_no_pin(self, host, space, client_for, act):
        speaker = seated(space, host, act)
        body = {"url": "https://example.org/"}
        assert client_for(speaker.user).put(url(space, "pin/"), body, format="json").status_code == 403
        assert client_for().put(url(space, "pin/"), body, format="json").status_code in (401, 403)
        cohost = seated(space, host, act, Role.COHOST)
        with act():
            assert client_for(cohost.user).put(url(space, "pin/"), body, format="json").status_code == 200
            services.space_end(space=space, actor=host)
        assert client_for().get(url(space, "")).json()["pinned"] is None
        assert client_for(host).put(url(space, "pin/"), body, format="json").json()["code"] == "not_live"


class TestMuteAll:
    def test_a_cohost_mutes_every_speaker_but_leaves_the_host_and_themself(self, host, space, client_for, act, media_server):
        cohost = seated(space, host, act, Role.COHOST)
        speakers = [seated(space, host, act) for _ in range(2)]
        for person in [cohost, *speakers, space.participants.get(role=Role.HOST)]:
            browser_joins(media_server, space, person)
        with act():
            response = client_for(cohost.user).post(url(space, "mute-all/"))
        assert response.status_code == 200, response.json()
        assert sorted(p["id"] for p in response.json()["muted"]) == sorted(p.uid for p in speakers)
        assert mix_muted(media_server, space) == {fresh(p).media_id for p in speakers}
        with act():
            response = client_for(host).post(url(space, "mute-all/"))
        assert [p["id"] for p in response.json()["muted"]] == [cohost.uid]
        assert mix_muted(media_server, space) == {fresh(p).media_id for p in [cohost, *speakers]}
        assert not fresh(space.participants.get(role=Role.HOST)).muted

    def test_a_speaker_cannot_mute_everyone(self, host, space, client_for, act):
        speaker = seated(space, host, act)
        assert client_for(speaker.user).post(url(space, "mute-all/")).status_code == 403
        assert not fresh(speaker).muted


class TestSelfMute:
    def test_everyone_sees_a_self_mute_and_the_media_sync_leaves_it_alone(self, host, space, client_for, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        calls = len(media_server.calls)
        with act():
            response = client_for(speaker.user).put(url(space, "mic/"), {"muted": True}, format="json")
        assert response.status_code == 200, response.json()
        assert (response.json()["self_muted"], response.json()["muted"]) == (True, False)
        stage = space_snapshot(space_id=space.pk, viewer=None)["data"]["stage"]
        assert [p["self_muted"] for p in stage if p["id"] == speaker.uid] == [True]
        services.media_reconcile()
        assert "speaker_unmute" not in [name for name, _ in media_server.calls[calls:]]

    def test_a_speaker_the_host_muted_stays_muted_when_they_unmute_themself(self, host, space, client_for, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        with act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
            response = client_for(speaker.user).put(url(space, "mic/"), {"muted": False}, format="json")
        assert (response.json()["self_muted"], response.json()["muted"]) == (False, True)
        assert mix_muted(media_server, space) == {fresh(speaker).media_id}

    def test_the_host_lifting_their_mute_leaves_a_self_mute_in_the_mix(self, host, space, act, media_server):
        speaker = seated(space, host, act)
        browser_joins(media_server, space, speaker)
        services.mic_set_self_muted(space=space, participant=speaker, muted=True)
        with act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=True)
        with act():
            services.participant_set_muted(space=space, actor=host, participant=speaker, muted=False)
        assert mix_muted(media_server, space) == {fresh(speaker).media_id}
        assert "speaker_unmute" not in media_server.call_names()

    def test_a_listener_has_no_microphone_and_a_bad_body_is_a_400(self, host, space, client_for, act):
        listener = services.space_join(space=space, visitor=Visitor.of(UserFactory()))
        assert client_for(listener.user).put(url(space, "mic/"), {"muted": True}, format="json").json()["code"] == "not_speaking"
        speaker = seated(space, host, act)
        assert client_for(speaker.user).put(url(space, "mic/"), {"muted": "yes"}, format="json").status_code == 400

    def test_moving_back_to_the_listeners_clears_a_self_mute(self, host, space, client_for, act):
        speaker = seated(space, host, act)
        services.mic_set_self_muted(space=space, participant=speaker, muted=True)
        with act():
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.LISTENER)
        assert fresh(speaker).self_muted is False


class TestMenusFollowTheStage:
    def test_a_full_stage_takes_invites_off_the_menus_and_a_free_seat_puts_them_back(self, host, space, act, settings):
        settings.SPACES_MAX_SPEAKERS = 2
        host_seat = space.participants.get(role=Role.HOST)
        can = space_snapshot(space_id=space.pk, viewer=host_seat)["data"]["can"]
        assert "invite_to_speak" in can["listener"] and "make_cohost" in can["listener"]
        speaker = seated(space, host, act)
        data = space_snapshot(space_id=space.pk, viewer=host_seat)["data"]
        assert data["stage_limit"] == 2
        assert "invite_to_speak" not in data["can"]["listener"] and "make_cohost" not in data["can"]["listener"]
        assert "make_cohost" in data["can"]["speaker"]  # already on stage: needs no new seat
        assert data["me"]["can"][:2] == ["mute_all", "pin_link"]
        with act():
            services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.LISTENER)
        assert "invite_to_speak" in space_snapshot(space_id=space.pk, viewer=host_seat)["data"]["can"]["listener"]

    def test_with_every_cohost_seat_taken_nobody_is_offered_a_cohost_seat(self, host, space, act, settings):
        settings.SPACES_MAX_COHOSTS = 1
        seated(space, host, act, Role.COHOST)
        can = space_snapshot(space_id=space.pk, viewer=space.participants.get(role=Role.HOST))["data"]["can"]
        assert "make_cohost" not in can["speaker"] + can["listener"]
        assert "invite_to_speak" in can["listener"]


def test_share_url_follows_the_address_the_request_came_to(host, space, client_for, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "http://configured.example"
    body = client_for().get(url(space, ""), HTTP_HOST="spaces.example.org:8443").json()
    assert body["share_url"] == f"http://spaces.example.org:8443/s/{space.code}/"
    listed = client_for().get("/api/spaces/", HTTP_HOST="other.example.net").json()["results"]
    assert [s["share_url"] for s in listed if s["code"] == space.code] == [f"http://other.example.net/s/{space.code}/"]
    assert fresh(space).share_url.startswith("http://configured.example/")  # emails and frames
