"""Janus's event handler endpoint: authenticated by a shared secret; talking events become
``speaking`` frames for the right participant."""

import base64

import pytest

from rooms import publisher, services

pytestmark = pytest.mark.django_db


def auth(secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"janus:{secret}".encode()).decode()}


def talking(room: int, participant: int, kind="talking") -> list:
    return [{"type": 64, "event": {"plugin": "janus.plugin.audiobridge", "data": {"audiobridge": kind, "room": room, "id": participant}}}]


def test_unknown_sources_are_refused(client, settings):
    response = client.post("/media/janus-events/", talking(1, 1), content_type="application/json", **auth("wrong"))
    assert response.status_code == 401
    assert client.post("/media/janus-events/", talking(1, 1), content_type="application/json").status_code == 401


def test_talking_becomes_a_speaking_frame(client, settings, host):
    space = services.space_create(host=host, title="Talk")
    speaker = space.participants.get()
    secret = settings.JANUS["EVENTS_SECRET"]
    with publisher.capture() as frames:
        response = client.post(
            "/media/janus-events/", talking(space.media_room_id, speaker.pk), content_type="application/json", **auth(secret)
        )
        client.post(
            "/media/janus-events/", talking(space.media_room_id, speaker.pk, "stopped-talking"),
            content_type="application/json", **auth(secret),
        )
    assert response.status_code == 204
    assert [(f["type"], f["data"]) for f in frames] == [
        ("speaking", {"participant": speaker.uid, "talking": True}),
        ("speaking", {"participant": speaker.uid, "talking": False}),
    ]


def test_events_for_unknown_rooms_or_garbage_are_ignored(client, settings):
    secret = settings.JANUS["EVENTS_SECRET"]
    with publisher.capture() as frames:
        assert client.post("/media/janus-events/", talking(999, 1), content_type="application/json", **auth(secret)).status_code == 204
        assert client.post("/media/janus-events/", [{"type": 64, "event": "x"}, 5], content_type="application/json", **auth(secret)).status_code == 204
        assert client.post("/media/janus-events/", "{nope", content_type="application/json", **auth(secret)).status_code == 400
    assert frames == []
