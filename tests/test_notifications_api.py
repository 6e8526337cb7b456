"""The notifications API: your own notifications only, read one or all, clear errors."""

import pytest

from scheduling.models import Notification

from .factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(live_space, user):
    """Two notifications for ``user`` (one read) and one for someone else."""
    other = UserFactory()
    unread = Notification.objects.create(user=user, space=live_space, kind="space_started", message="It is live")
    read = Notification.objects.create(
        user=user, space=live_space, kind="space_ended", message="It ended", read_at=live_space.started_at
    )
    foreign = Notification.objects.create(user=other, space=live_space, kind="space_started", message="Not yours")
    return unread, read, foreign


def test_lists_only_your_notifications_newest_first_with_their_space(client_for, user, inbox, live_space):
    unread, read, _ = inbox
    response = client_for(user).get("/api/notifications/")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [n["id"] for n in results] == [read.pk, unread.pk]
    assert results[1]["unread"] is True and results[0]["unread"] is False
    assert results[1]["space"] == {
        "code": live_space.code,
        "title": live_space.title,
        "state": "live",
        "url": live_space.share_url,
    }


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_unread_filter(client_for, user, inbox, value):
    unread, _, _ = inbox
    response = client_for(user).get(f"/api/notifications/?unread={value}")
    assert [n["id"] for n in response.json()["results"]] == [unread.pk]


def test_a_bad_unread_filter_is_a_400_that_says_what_to_send(client_for, user, inbox):
    response = client_for(user).get("/api/notifications/?unread=maybe")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_unread_filter"
    assert "true or false" in response.json()["detail"]


def test_marking_one_read_is_idempotent(client_for, user, inbox):
    unread, _, _ = inbox
    client = client_for(user)
    first = client.post(f"/api/notifications/{unread.pk}/read/")
    assert first.status_code == 200 and first.json()["unread"] is False
    read_at = Notification.objects.get(pk=unread.pk).read_at
    assert client.post(f"/api/notifications/{unread.pk}/read/").status_code == 200
    assert Notification.objects.get(pk=unread.pk).read_at == read_at


def test_someone_elses_notification_is_not_found_and_stays_unread(client_for, user, inbox):
    _, _, foreign = inbox
    response = client_for(user).post(f"/api/notifications/{foreign.pk}/read/")
    assert response.status_code == 404
    assert Notification.objects.get(pk=foreign.pk).read_at is None


def test_mark_all_read_touches_only_yours(client_for, user, inbox):
    _, _, foreign = inbox
    response = client_for(user).post("/api/notifications/read/")
    assert response.status_code == 200 and response.json() == {"marked": 1}
    assert not Notification.objects.filter(user=user, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=foreign.pk).read_at is None


@pytest.mark.parametrize(
    "method, path", [("get", "/api/notifications/"), ("post", "/api/notifications/read/"), ("post", "/api/notifications/1/read/")]
)
def test_signed_out_is_a_401(api, inbox, method, path):
    response = getattr(api, method)(path)
    assert response.status_code == 401
    assert Notification.objects.filter(read_at__isnull=True).count() == 2
