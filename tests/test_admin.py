"""Staff run Spaces from the admin, through the same services as the API."""

from datetime import timedelta

from html.parser import HTMLParser

import pytest
from django.utils import timezone

from rooms.identity import Visitor
from rooms import services
from rooms.models import Space

from .factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="admin", is_staff=True, is_superuser=True))
    return client


class FormFields(HTMLParser):
    """The inputs a browser would send back from an admin form (management forms included)."""

    def __init__(self):
        super().__init__()
        self.data = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "textarea", "select") and attrs.get("name") and attrs.get("type") not in ("submit", "checkbox"):
            self.data.setdefault(attrs["name"], attrs.get("value", ""))


def submit(client, url, **changes):
    parser = FormFields()
    parser.feed(client.get(url).content.decode())
    return client.post(url, {**parser.data, **changes}, follow=False)


def local_form_time(moment):
    local = timezone.localtime(moment)
    return {"scheduled_for_0": local.strftime("%Y-%m-%d"), "scheduled_for_1": local.strftime("%H:%M:%S")}


def test_changelist_filters_and_searches(staff_client, host):
    services.space_create(host=host, title="Jazz hour")
    services.space_create(host=host, title="Poetry", scheduled_for=timezone.now() + timedelta(days=1))
    page = staff_client.get("/admin/rooms/space/", {"state__exact": "live"})
    assert page.status_code == 200
    assert b"Jazz hour" in page.content and b"Poetry" not in page.content
    found = staff_client.get("/admin/rooms/space/", {"q": "poet"})
    assert b"Poetry" in found.content and b"Jazz hour" not in found.content


def test_change_page_shows_participants_and_share_link(staff_client, host):
    space = services.space_create(host=host, title="Jazz hour")
    services.space_join(space=space, visitor=Visitor.of(UserFactory(username="fan")))
    page = staff_client.get(f"/admin/rooms/space/{space.pk}/change/")
    assert page.status_code == 200
    assert b"fan" in page.content
    assert f"/s/{space.code}/".encode() in page.content


def test_staff_start_a_space_for_a_host(staff_client, host):
    response = submit(staff_client, "/admin/rooms/space/add/", host=host.pk, title="Admin live")
    assert response.status_code == 302
    space = Space.objects.get(title="Admin live")
    assert space.state == "live" and space.participants.get(role="host").user == host


def test_staff_schedule_a_space_and_errors_show_as_messages(staff_client, host):
    when = timezone.now() + timedelta(days=2)
    data = {"host": host.pk, "title": "Admin scheduled", **local_form_time(when)}
    assert submit(staff_client, "/admin/rooms/space/add/", **data).status_code == 302
    assert Space.objects.get(title="Admin scheduled").state == "scheduled"
    again = submit(staff_client, "/admin/rooms/space/add/", **{**data, "title": "Second"})
    assert again.status_code == 302
    again = staff_client.get(again["Location"])
    assert b"already have a scheduled Space" in again.content
    assert not Space.objects.filter(title="Second").exists()


def test_staff_edit_title_through_the_service(staff_client, host):
    space = services.space_create(host=host, title="Old")
    response = submit(staff_client, f"/admin/rooms/space/{space.pk}/change/", title="New", description="d")
    assert response.status_code == 302
    space.refresh_from_db()
    assert (space.title, space.description) == ("New", "d")


def test_actions_end_and_cancel(staff_client, host):
    live = services.space_create(host=host, title="Live")
    scheduled = services.space_create(host=host, title="Soon", scheduled_for=timezone.now() + timedelta(days=1))
    staff_client.post("/admin/rooms/space/", {"action": "end_spaces", "_selected_action": [live.pk]})
    staff_client.post("/admin/rooms/space/", {"action": "cancel_spaces", "_selected_action": [scheduled.pk]})
    live.refresh_from_db()
    scheduled.refresh_from_db()
    assert (live.state, scheduled.state) == ("ended", "cancelled")


def test_an_action_off_the_lifecycle_is_a_warning_not_an_error(staff_client, host):
    live = services.space_create(host=host, title="Live")
    response = staff_client.post(
        "/admin/rooms/space/", {"action": "cancel_spaces", "_selected_action": [live.pk]}, follow=True
    )
    assert response.status_code == 200
    assert b"only a scheduled Space can be cancelled" in response.content
    live.refresh_from_db()
    assert live.state == "live"


def test_participants_are_read_only_in_the_admin(staff_client, host):
    space = services.space_create(host=host, title="Live")
    host_p = space.participants.get()
    assert staff_client.get("/admin/rooms/participant/").status_code == 200
    assert staff_client.get("/admin/rooms/participant/add/").status_code == 403
    response = staff_client.post(f"/admin/rooms/participant/{host_p.pk}/change/", {"role": "listener"})
    assert response.status_code == 403
