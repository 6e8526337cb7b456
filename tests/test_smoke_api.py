from datetime import timedelta

from django.utils import timezone

from rooms.models import Participant


def test_host_goes_live_and_a_signed_out_listener_joins(client_for, host, api):
    response = client_for(host).post("/api/spaces/", {"title": "Hello"}, format="json")
    assert response.status_code == 201, response.content
    code = response.json()["code"]
    joined = api.post(f"/api/spaces/{code}/join/", format="json")
    assert joined.status_code == 200, joined.content
    assert joined.json()["participant"]["name"].startswith("Listener ")
    assert api.get(f"/api/spaces/{code}/").json()["listener_count"] == 1


def test_scheduling_twice_names_the_existing_space(client_for, host):
    client = client_for(host)
    when = (timezone.now() + timedelta(days=1)).isoformat()
    assert client.post("/api/spaces/", {"title": "One", "scheduled_for": when}, format="json").status_code == 201
    second = client.post("/api/spaces/", {"title": "Two", "scheduled_for": when}, format="json")
    assert second.status_code == 409
    assert second.json()["code"] == "one_scheduled_space"
    assert "One" in second.json()["detail"]


def test_naive_datetime_is_a_clear_400(client_for, host):
    response = client_for(host).post(
        "/api/spaces/", {"title": "x", "scheduled_for": "2030-01-01T10:00:00"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "naive_datetime"


def test_host_promotes_a_listener(client_for, host, user, live_space):
    client_for(user).post(f"/api/spaces/{live_space.code}/join/", format="json")
    uid = Participant.objects.get(user=user).uid
    response = client_for(host).patch(
        f"/api/spaces/{live_space.code}/participants/{uid}/", {"role": "speaker"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "speaker"
