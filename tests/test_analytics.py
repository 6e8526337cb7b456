"""Host analytics of a scripted Space: the sampler's counts, peak, unique listeners, average
listening time (listener-seconds over unique listeners), speakers, reactions, replay and clip
plays; the CSV export, the API (host, co-host, staff only) and the page's server-drawn chart."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from analytics import services as analytics
from analytics.models import ListenerSample
from clips.models import Clip
from rooms import services
from rooms.identity import Visitor
from rooms.models import Participant
from spaces.celery import app
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripted(host, settings, tmp_path, django_capture_on_commit_callbacks):
    """A Space sampled three times, 10 s apart, ending about 10 s after the last: 2 listeners,
    then 3, then 1 (one left, one was invited on stage and later back); 3 reactions; a replay."""
    settings.MEDIA_ROOT = tmp_path
    settings.SPACES_ANALYTICS_SAMPLE_INTERVAL = 10
    space = services.space_create(host=host, title="Numbers")
    cohost_user, ana, ben, cy = (UserFactory(username=n) for n in ("cohost", "ana", "ben", "cy"))
    t0 = timezone.now() - timedelta(seconds=30)
    with django_capture_on_commit_callbacks(execute=True):
        cohost = services.space_join(space=space, visitor=Visitor.of(cohost_user))
        services.participant_set_role(space=space, actor=host, participant=cohost, role="cohost")
        a = services.space_join(space=space, visitor=Visitor.of(ana))
        services.space_join(space=space, visitor=Visitor.of(ben))
    assert analytics.listeners_sample(now=t0) == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.space_join(space=space, visitor=Visitor.of(cy))
        for emoji in ("👏", "🔥", "👏"):
            services.reaction_send(space=space, participant=a, emoji=emoji)
    analytics.listeners_sample(now=t0 + timedelta(seconds=10))
    with django_capture_on_commit_callbacks(execute=True):
        a = services.participant_set_role(space=space, actor=host, participant=a, role="speaker")
        services.space_leave(space=space, participant=Participant.objects.get(space=space, user__username="ben"))
    analytics.listeners_sample(now=t0 + timedelta(seconds=20))
    services.participant_set_role(space=space, actor=host, participant=a, role="listener")
    with django_capture_on_commit_callbacks(execute=True):
        services.space_end(space=space, actor=host)
    space.refresh_from_db()
    (tmp_path / "recordings").mkdir()
    (tmp_path / "recordings" / "replay.ogg").write_bytes(b"OggS" + bytes(2000))
    space.replay = "recordings/replay.ogg"
    space.save(update_fields=["replay"])
    (tmp_path / "clip.ogg").write_bytes(b"OggS" + bytes(500))
    Clip.objects.create(space=space, creator_name="ana", recording_end=1, state="ready", file="clip.ogg", seconds=30)
    space.t0, space.cohost_user = t0, cohost_user
    return space


def test_the_numbers_of_a_scripted_space(scripted, client_for, host, client):
    client.get(f"/s/{scripted.code}/replay/")
    client.get(f"/s/{scripted.code}/replay/", HTTP_RANGE="bytes=1000-")  # a seek: not another play
    played = client.get(f"/s/{scripted.code}/replay/", HTTP_RANGE="bytes=0-")
    assert played.status_code == 302 and played["Location"] == "/media/recordings/replay.ogg"
    clip = Clip.objects.get(space=scripted)
    for _ in range(3):
        client.get(f"/c/{clip.code}/audio.ogg")

    report = client_for(host).get(f"/api/spaces/{scripted.code}/analytics/").json()

    assert [s["listeners"] for s in report["samples"]] == [2, 3, 1, 0]
    assert [s["reactions"] for s in report["samples"]] == [0, 3, 3, 3]
    last_gap = (scripted.ended_at - (scripted.t0 + timedelta(seconds=20))).total_seconds()
    assert report["listener_seconds"] == pytest.approx(2 * 10 + 3 * 10 + 1 * last_gap)
    # The co-host joined as a listener before the host made them co-host: one of 4 who listened.
    assert report["peak_listeners"] == 3 and report["unique_listeners"] == 4
    assert report["average_listening_seconds"] == pytest.approx(report["listener_seconds"] / 4)
    assert report["speakers"] == 3, "host, co-host and ana, who was on stage for a while"
    assert (report["reactions"], report["replay_plays"], report["clip_plays"]) == (3, 2, 3)


def test_the_csv_has_a_row_per_sample_then_the_totals(scripted, client_for, host):
    answer = client_for(host).get(f"/api/spaces/{scripted.code}/analytics/csv/")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode())))
    assert rows[0] == ["at", "seconds_since_start", "listeners", "reactions_so_far"]
    assert [r[2] for r in rows[1:5]] == ["2", "3", "1", "0"] and rows[5] == []
    totals = dict(rows[7:])
    assert rows[6] == ["total", "value"]
    assert (totals["peak_listeners"], totals["unique_listeners"], totals["speakers"], totals["reactions"]) == ("3", "4", "3", "3")


def test_only_host_cohosts_and_staff_read_analytics(scripted, client_for, host):
    path = f"/api/spaces/{scripted.code}/analytics/"
    assert client_for(host).get(path).status_code == 200
    assert client_for(scripted.cohost_user).get(path).status_code == 200
    assert client_for(UserFactory(is_staff=True)).get(path).status_code == 200
    listener = client_for(UserFactory())
    refused = listener.get(path)
    assert refused.status_code == 403 and refused.json()["code"] == "analytics_hosts_only"
    assert client_for(Participant.objects.get(space=scripted, user__username="ana").user).get(path + "csv/").status_code == 403
    assert client_for(None).get(path).status_code == 401


def test_the_analytics_page_draws_the_chart_on_the_server(scripted, client, host):
    client.force_login(host)
    page = client.get(f"/dashboard/spaces/{scripted.code}/analytics/").content.decode()
    assert '<svg class="chart" role="img"' in page and "<polyline" in page
    assert "Listeners over time: peak 3, 4 samples" in page
    assert '<dd id="stat-unique">4</dd>' in page and '<dd id="stat-speakers">3</dd>' in page
    assert f"/dashboard/spaces/{scripted.code}/analytics/" in client.get("/dashboard/").content.decode()
    client.force_login(UserFactory())
    assert client.get(f"/dashboard/spaces/{scripted.code}/analytics/").status_code == 403


def test_a_live_space_reads_its_counts_from_redis(live_space, client_for, host, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        someone = services.space_join(space=live_space, visitor=Visitor.of(UserFactory()))
        services.reaction_send(space=live_space, participant=someone, emoji="🔥")
    analytics.listeners_sample()
    report = client_for(host).get(f"/api/spaces/{live_space.code}/analytics/").json()
    assert (report["unique_listeners"], report["reactions"], report["samples"][0]["listeners"]) == (1, 1, 1)


def test_beat_samples_listeners_every_interval():
    entry = django_settings.CELERY_BEAT_SCHEDULE["sample-listeners"]
    assert entry["schedule"] == django_settings.SPACES_ANALYTICS_SAMPLE_INTERVAL == 10
    assert entry["task"] in app.tasks
    assert ListenerSample._meta.get_field("listeners") and "expire-clips" in django_settings.CELERY_BEAT_SCHEDULE
