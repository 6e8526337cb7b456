"""Janus's event handler endpoint, ``/media/janus-events/``.

It proves: only Janus (HTTP Basic, user ``janus``, the shared secret) is heard, and malformed
bodies are refused; a talking event is looked up by the speaker's server-assigned media id in that
live room and becomes a ``speaking`` frame naming the participant's uid, while an id that is not a
current speaker's media id there (a pk, a former speaker's id, a bool) publishes nothing; a
``joined`` event queues the join check (which names the Janus session and handle it came from),
and every other event that can change the mix queues a sync of that Space's room; nothing else
reaches the media server, and a broker that is down never fails Janus's post.
"""

import base64
import logging

import pytest

from rooms import publisher, services
from rooms.identity import Visitor
from rooms.models import Participant, Space
from rooms.snapshot import space_snapshot
from rooms.services import media as media_sync

from .factories import UserFactory

pytestmark = pytest.mark.django_db

Role = Participant.Role
URL = "/media/janus-events/"


def basic_auth(user: str, password: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def audiobridge(kind: str, room, media_id=None, *, session_id=None, handle_id=None, key: str = "event") -> dict:
    """An AudioBridge event as Janus's event handler posts it."""
    data = {key: kind, "room": room}
    if media_id is not None:
        data["id"] = media_id
    event = {"type": 64, "event": {"plugin": "janus.plugin.audiobridge", "data": data}}
    if session_id is not None:
        event |= {"session_id": session_id, "handle_id": handle_id}
    return event


@pytest.fixture
def post(client, settings):
    """Post a body to the endpoint as Janus does; returns the status code."""

    def send(body, **auth) -> int:
        headers = auth or basic_auth("janus", settings.JANUS["EVENTS_SECRET"])
        return client.post(URL, body, content_type="application/json", **headers).status_code

    return send


@pytest.fixture
def space(host):
    return Space.objects.get(pk=services.space_create(host=host, title="Talk").pk)


def speaker_on(space: Space, host) -> Participant:
    person = services.space_join(space=space, visitor=Visitor.of(UserFactory()))
    services.participant_set_role(space=space, actor=host, participant=person, role=Role.SPEAKER)
    return Participant.objects.get(pk=person.pk)


class TestWhoIsHeard:
    @pytest.mark.parametrize(
        "headers",
        [
            lambda secret: {},
            lambda secret: basic_auth("janus", "wrong"),
            lambda secret: basic_auth("someone", secret),
            lambda secret: {"HTTP_AUTHORIZATION": "Basic not-base64!"},
            lambda secret: {"HTTP_AUTHORIZATION": f"Bearer {secret}"},
        ],
        ids=["no-header", "wrong-secret", "wrong-user", "garbage", "not-basic"],
    )
    def test_unknown_sources_are_refused_and_nothing_happens(self, client, settings, space, media_server, headers):
        auth = headers(settings.JANUS["EVENTS_SECRET"])
        media_server.calls.clear()
        seat = space.participants.get()
        with publisher.capture() as frames:
            response = client.post(
                URL, [audiobridge("talking", space.media_room_id, seat.media_id), audiobridge("left", space.media_room_id)],
                content_type="application/json", **auth,
            )
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert frames == [] and media_server.calls == []

    def test_only_post_is_accepted(self, client, settings):
        assert client.get(URL, **basic_auth("janus", settings.JANUS["EVENTS_SECRET"])).status_code == 405

    def test_a_body_that_is_not_json_is_refused(self, post):
        assert post("{nope") == 400


class TestTalking:
    def test_talking_is_looked_up_by_media_id_and_becomes_a_speaking_frame_with_the_uid(self, post, space, host):
        speaker = speaker_on(space, host)
        assert speaker.media_id != speaker.pk
        with publisher.capture() as frames:
            assert post([audiobridge("talking", space.media_room_id, speaker.media_id, key="audiobridge")]) == 204
            assert post([audiobridge("stopped-talking", space.media_room_id, speaker.media_id)]) == 204
        assert [(f["type"], f["data"]) for f in frames] == [
            ("speaking", {"participant": speaker.uid, "talking": True}),
            ("speaking", {"participant": speaker.uid, "talking": False}),
        ]

    def test_someone_who_arrives_while_a_speaker_talks_sees_it_in_the_snapshot(self, post, space, host):
        """Before: who was talking lived only in the frames of the moment, so a page that opened
        mid-sentence showed nobody speaking until the speaker stopped and started again."""
        speaker = speaker_on(space, host)
        assert post([audiobridge("talking", space.media_room_id, speaker.media_id)]) == 204
        assert space_snapshot(space_id=space.pk, viewer=None)["data"]["speaking"] == [speaker.uid]
        assert post([audiobridge("stopped-talking", space.media_room_id, speaker.media_id)]) == 204
        assert space_snapshot(space_id=space.pk, viewer=None)["data"]["speaking"] == []

    def test_talking_makes_no_media_call(self, post, space, media_server):
        media_server.calls.clear()
        post([audiobridge("talking", space.media_room_id, space.participants.get().media_id)])
        assert media_server.calls == []

    def test_an_id_that_is_a_participants_pk_and_not_their_media_id_publishes_nothing(self, post, space, host):
        speaker = speaker_on(space, host)
        with publisher.capture() as frames:
            post([audiobridge("talking", space.media_room_id, speaker.pk)])
        assert frames == []

    def test_a_former_speakers_media_id_publishes_nothing(self, post, space, host):
        speaker = speaker_on(space, host)
        services.participant_set_role(space=space, actor=host, participant=speaker, role=Role.LISTENER)
        with publisher.capture() as frames:
            post([audiobridge("talking", space.media_room_id, speaker.media_id)])
        assert frames == []

    def test_a_media_id_in_another_spaces_room_publishes_nothing(self, post, space, host):
        speaker = speaker_on(space, host)
        other = services.space_create(host=UserFactory(), title="Elsewhere")
        with publisher.capture() as frames:
            post([audiobridge("talking", other.media_room_id, speaker.media_id), audiobridge("talking", 999, speaker.media_id)])
        assert frames == []

    def test_talking_in_an_ended_space_publishes_nothing(self, post, space, host):
        seat = space.participants.get()
        services.space_end(space=space, actor=host)
        with publisher.capture() as frames:
            post([audiobridge("talking", space.media_room_id, seat.media_id)])
        assert frames == []

    def test_ids_that_are_booleans_are_ignored(self, post, space):
        # Room 1, media id 1: the ids ``true`` would stand for, were booleans taken as ints.
        Space.objects.filter(pk=space.pk).update(media_room_id=1)
        seat = space.participants.get()
        Participant.objects.filter(pk=seat.pk).update(media_id=1)
        with publisher.capture() as frames:
            post([audiobridge("talking", True, 1), audiobridge("talking", 1, True), audiobridge("talking", True, True)])
        assert frames == []
        with publisher.capture() as frames:
            post([audiobridge("talking", 1, 1)])
        assert [f["data"] for f in frames] == [{"participant": seat.uid, "talking": True}]

    def test_garbage_is_ignored_and_the_rest_of_the_batch_handled(self, post, space):
        seat = space.participants.get()
        garbage = [
            5,
            "talking",
            {"type": 64, "event": "x"},
            {"type": 64, "event": {"data": "x"}},
            {"type": 1, "event": {"data": {"event": "talking", "room": space.media_room_id, "id": seat.media_id}}},
            audiobridge("talking", str(space.media_room_id), seat.media_id),
            audiobridge("talking", space.media_room_id, str(seat.media_id)),
            audiobridge("talking", space.media_room_id),
        ]
        with publisher.capture() as frames:
            assert post(garbage) == 204
            assert post([*garbage, audiobridge("talking", space.media_room_id, seat.media_id)]) == 204
        assert [f["data"] for f in frames] == [{"participant": seat.uid, "talking": True}]

    def test_events_of_other_plugins_are_ignored(self, post, space, media_server):
        seat = space.participants.get()
        streaming = audiobridge("talking", space.media_room_id, seat.media_id)
        streaming["event"]["plugin"] = "janus.plugin.streaming"
        left = audiobridge("left", space.media_room_id, seat.media_id)
        left["event"]["plugin"] = "janus.plugin.streaming"
        media_server.calls.clear()
        with publisher.capture() as frames:
            assert post([streaming, left]) == 204
        assert frames == [] and media_server.calls == []

    def test_a_single_event_not_in_a_list_is_handled(self, post, space):
        seat = space.participants.get()
        with publisher.capture() as frames:
            assert post(audiobridge("talking", space.media_room_id, seat.media_id)) == 204
        assert len(frames) == 1


class TestMixChanges:
    def test_a_join_is_checked_against_the_session_and_handle_it_came_from(self, post, space, media_server):
        seat = space.participants.get()
        media_server.calls.clear()
        post([audiobridge("joined", space.media_room_id, seat.media_id, session_id=11, handle_id=22)])
        assert media_server.calls[0] == ("holder_of", {"session_id": 11, "handle_id": 22})
        assert media_server.call_names() == ["holder_of", "room_sync"]

    def test_a_join_without_session_and_handle_ids_still_syncs_the_room(self, post, space, media_server):
        media_server.calls.clear()
        post([audiobridge("joined", space.media_room_id, space.participants.get().media_id)])
        assert media_server.calls == [
            ("room_sync", {"room_id": space.media_room_id, "speakers": {space.participants.get().media_id: False},
                           "allowed": [space.participants.get().media_token]})
        ]

    @pytest.mark.parametrize("kind", ["configured", "left", "leaving", "kicked"])
    def test_an_event_that_can_change_the_mix_syncs_that_spaces_room(self, post, space, media_server, kind):
        other = services.space_create(host=UserFactory(), title="Elsewhere")
        media_server.calls.clear()
        post([audiobridge(kind, space.media_room_id, 1, session_id=11, handle_id=22)])
        assert [(name, call["room_id"]) for name, call in media_server.calls] == [("room_sync", space.media_room_id)]
        assert other.media_room_id != space.media_room_id

    @pytest.mark.parametrize("kind", ["created", "destroyed", "something-new"])
    def test_other_events_make_no_media_call(self, post, space, media_server, kind):
        media_server.calls.clear()
        post([audiobridge(kind, space.media_room_id, 1, session_id=11, handle_id=22)])
        assert media_server.calls == []

    def test_events_for_unknown_or_ended_rooms_make_no_media_call(self, post, space, host, media_server):
        services.space_end(space=space, actor=host)
        media_server.calls.clear()
        for room in (space.media_room_id, 999):
            post([audiobridge("configured", room, 1), audiobridge("joined", room, 1, session_id=11, handle_id=22)])
        assert media_server.calls == []

    def test_a_broker_that_is_down_never_fails_janus_post(self, post, space, media_server, monkeypatch, caplog):
        def down(*args, **kwargs):
            raise ConnectionError("broker down")

        monkeypatch.setattr(media_sync, "queue", down)
        media_server.calls.clear()
        room = space.media_room_id
        assert post([audiobridge("configured", room, 1), audiobridge("joined", room, 1, session_id=1, handle_id=2)]) == 204
        assert media_server.calls == []
        logged = [r for r in caplog.records if r.levelno == logging.ERROR and "Could not queue" in r.getMessage()]
        assert len(logged) == 2 and all(r.exc_info[0] is ConnectionError for r in logged)
