"""Server-rendered pages: they render for each kind of visitor, and the dashboard forms put the
services' errors next to the field they are about."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.identity import Visitor
from rooms import services
from rooms.models import Space

pytestmark = pytest.mark.django_db


def local_input(moment, zone="Europe/Berlin"):
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def schedule(client, when: str, title="Weekly show", zone="Europe/Berlin"):
    return client.post(
        "/dashboard/",
        {"schedule": "1", "schedule-title": title, "schedule-scheduled_for": when, "schedule-timezone": zone},
    )


def test_home_lists_live_and_upcoming(client, host):
    services.space_create(host=host, title="On air")
    services.space_create(host=host, title="Coming up", scheduled_for=timezone.now() + timedelta(days=1))
    page = client.get("/").content.decode()
    assert "On air" in page and "Coming up" in page


def test_schedule_in_the_visitors_time_zone_is_stored_in_utc(client, host):
    client.force_login(host)
    when = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    response = schedule(client, local_input(when))
    assert response.status_code == 302
    assert Space.objects.get(title="Weekly show").scheduled_for == when


@pytest.mark.parametrize(
    "delta, message",
    [(timedelta(days=15), "latest you can pick"), (timedelta(hours=-1), "in the past")],
)
def test_scheduling_errors_show_inline(client, host, delta, message):
    client.force_login(host)
    response = schedule(client, local_input(timezone.now() + delta))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Space.objects.exists()


def test_a_second_schedule_links_the_first(client, host):
    client.force_login(host)
    schedule(client, local_input(timezone.now() + timedelta(days=1)), title="First")
    response = schedule(client, local_input(timezone.now() + timedelta(days=2)), title="Second")
    page = response.content.decode()
    assert response.status_code == 400
    first = Space.objects.get(title="First")
    assert f'href="{first.share_url}"' in page


def test_start_now_goes_to_the_room(client, host):
    client.force_login(host)
    response = client.post("/dashboard/", {"start": "1", "start-title": "Right now"})
    space = Space.objects.get(title="Right now")
    assert response.status_code == 302 and response["Location"] == f"/s/{space.code}/"


def test_dashboard_actions_call_the_services(client, host):
    client.force_login(host)
    space = services.space_create(host=host, title="Later", scheduled_for=timezone.now() + timedelta(days=1))
    new_time = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    client.post(
        f"/dashboard/spaces/{space.code}/reschedule/",
        {"reschedule-scheduled_for": local_input(new_time, "UTC"), "reschedule-timezone": "UTC"},
    )
    space.refresh_from_db()
    assert space.scheduled_for == new_time
    client.post(f"/dashboard/spaces/{space.code}/start/")
    space.refresh_from_db()
    assert space.state == "live"
    client.post(f"/dashboard/spaces/{space.code}/end/")
    space.refresh_from_db()
    assert space.state == "ended"


def test_someone_elses_space_cannot_be_cancelled_from_the_dashboard(client, host, user):
    space = services.space_create(host=host, title="Theirs", scheduled_for=timezone.now() + timedelta(days=1))
    client.force_login(user)
    response = client.post(f"/dashboard/spaces/{space.code}/cancel/", follow=True)
    assert "Only the host" in response.content.decode()
    space.refresh_from_db()
    assert space.state == "scheduled"


@pytest.mark.parametrize("state", ["scheduled", "live", "ended"])
def test_share_page_renders_each_state_with_unfurl_tags(client, host, state):
    if state == "scheduled":
        space = services.space_create(host=host, title="Show", scheduled_for=timezone.now() + timedelta(days=1))
    else:
        space = services.space_create(host=host, title="Show")
        if state == "ended":
            services.space_end(space=space, actor=host)
    page = client.get(f"/s/{space.code}/").content.decode()
    assert 'property="og:title" content="Show"' in page
    assert 'name="twitter:card"' in page
    assert f'data-state="{state}"' in page


def test_calendar_file_for_a_scheduled_space(client, host):
    when = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    space = services.space_create(host=host, title="Show, with; commas", scheduled_for=when)
    response = client.get(f"/s/{space.code}/calendar.ics")
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/calendar")
    assert f"DTSTART:{when.strftime('%Y%m%dT%H%M%SZ')}" in body
    assert "SUMMARY:Show\\, with\\; commas" in body
    assert space.share_url in body


def test_a_blocked_visitor_sees_that_they_were_removed(client, host, user):
    space = services.space_create(host=host, title="Show")
    participant = services.space_join(space=space, visitor=Visitor.of(user))
    services.participant_remove(space=space, actor=host, participant=participant, block=True)
    client.force_login(user)
    assert client.get(f"/s/{space.code}/").status_code == 403
