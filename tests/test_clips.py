"""Clips: anyone in a live, recorded Space clips the last 30 seconds of the mix the media server
is still writing; opusenc (for real) makes it Ogg Opus; it has a page with Open Graph audio tags,
plays in byte ranges, is listed on the Space's page and goes with the replay."""

import re
import shutil
import struct
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from clips import services as clip_services
from clips.models import Clip
from rooms import services
from rooms.identity import Visitor
from rooms.services.recording import recording_path
from tests.conftest import require
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RATE = 48000


def pcm(seconds: float, frequency: int = 440) -> bytes:
    """Mono 16-bit samples of a tone (sox), as the media server mixes them."""
    return subprocess.run(
        ["sox", "-n", "-r", str(RATE), "-b", "16", "-c", "1", "-e", "signed", "-t", "raw", "-",
         "synth", str(seconds), "sine", str(frequency), "vol", "0.5"], capture_output=True, check=True,
    ).stdout


def start_recording(path: Path, seconds: float) -> Path:
    """A WAV as the media server writes it while the room is live: the header's sizes still 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16)
    path.write_bytes(header + b"data" + struct.pack("<I", 0) + pcm(seconds))
    return path


def keep_recording(path: Path, seconds: float) -> None:
    with path.open("ab") as file:
        file.write(pcm(seconds, frequency=880))


@pytest.fixture
def recorded(settings, tmp_path, host):
    require(shutil.which("opusenc") and shutil.which("sox"), "opusenc (opus-tools) and sox are needed")
    settings.MEDIA_ROOT = tmp_path
    settings.JANUS = {**settings.JANUS, "RECORDINGS_DIR": str(tmp_path / "recordings")}
    settings.SPACES_CLIPS_PER_MINUTE = 2
    return services.space_create(host=host, title="Clip me", record=True)


@pytest.fixture
def listener(recorded):
    person = UserFactory(username="lena")
    services.space_join(space=recorded, visitor=Visitor.of(person))
    return person


@pytest.fixture
def clipped(recorded, listener, client_for, django_capture_on_commit_callbacks):
    """A clip made through the API and encoded as the worker does (eager, after commit)."""
    start_recording(recording_path(recorded), seconds=40)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client_for(listener).post(f"/api/spaces/{recorded.code}/clips/")
    assert answer.status_code == 202, answer.content
    return Clip.objects.get(code=answer.json()["code"])


def test_a_listener_clips_the_last_30_seconds_of_the_recording_being_written(
    recorded, listener, client_for, django_capture_on_commit_callbacks, tmp_path,
):
    wav = start_recording(recording_path(recorded), seconds=40)
    api = client_for(listener)
    answer = api.post(f"/api/spaces/{recorded.code}/clips/")
    assert answer.status_code == 202 and answer.json()["state"] == "pending"
    keep_recording(wav, seconds=3)  # the mix goes on while the worker has not run yet

    clip = clip_services.clip_encode(clip_id=Clip.objects.get(code=answer.json()["code"]).pk)

    assert clip.state == "ready" and clip.creator_name == "lena"
    assert clip.seconds == pytest.approx(30.0) and clip.offset == pytest.approx(10.0)
    info = subprocess.run(["opusinfo", str(tmp_path / clip.file)], capture_output=True, text=True, check=True).stdout
    assert "Playback length: 0m:30" in info, info
    assert (tmp_path / clip.file).stat().st_size < 200_000
    shown = api.get(f"/api/clips/{clip.code}/").json()
    assert shown["state"] == "ready" and shown["audio_url"].endswith(f"/c/{clip.code}/audio.ogg")


def test_the_clip_page_has_open_graph_audio_tags_and_its_audio_plays_in_byte_ranges(clipped, client, tmp_path):
    page = client.get(f"/c/{clipped.code}/").content.decode()
    tags = dict(re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', page))
    assert tags["og:audio"] == f"http://testserver/c/{clipped.code}/audio.ogg"
    assert tags["og:audio:type"] == "audio/ogg" and tags["twitter:card"] == "summary"
    assert "Clip me" in tags["og:title"] and "30 seconds" in tags["og:description"]
    assert f'<audio class="replay" controls preload="none" src="/c/{clipped.code}/audio.ogg">' in page

    whole = (tmp_path / clipped.file).read_bytes()
    part = client.get(f"/c/{clipped.code}/audio.ogg", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part.content == whole[100:200] and part["Content-Type"] == "audio/ogg"
    first = client.get(f"/c/{clipped.code}/audio.ogg", HTTP_RANGE="bytes=0-")
    assert first.status_code == 206 and first["Content-Range"] == f"bytes 0-{len(whole) - 1}/{len(whole)}"
    clipped.refresh_from_db()
    assert clipped.plays == 1, "a fetch from the first byte is a play; a later range is not"


def test_the_space_page_lists_its_clips_live_and_after_it_ends(clipped, client, recorded, host):
    live = client.get(f"/s/{recorded.code}/").content.decode()
    assert "Clip the last 30 s" in live and f'href="/c/{clipped.code}/"' in live
    services.space_end(space=recorded, actor=host)
    ended = client.get(f"/s/{recorded.code}/").content.decode()
    assert f'href="/c/{clipped.code}/"' in ended and "Clip by lena" in ended
    assert [c["code"] for c in client.get(f"/api/spaces/{recorded.code}/clips/").json()] == [clipped.code]


def test_clips_expire_with_the_replay_and_their_files_go(clipped, recorded, host, tmp_path, django_capture_on_commit_callbacks):
    services.space_end(space=recorded, actor=host)
    file = tmp_path / clipped.file
    recorded.refresh_from_db()
    recorded.replay, recorded.replay_expires_at = "recordings/replay.ogg", timezone.now() - timedelta(seconds=1)
    recorded.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.replays_expire() == 1
    assert not Clip.objects.filter(pk=clipped.pk).exists() and not file.exists()


def test_the_sweep_removes_clips_of_a_space_that_never_got_a_replay(clipped, recorded, host, django_capture_on_commit_callbacks):
    services.space_end(space=recorded, actor=host)
    assert clip_services.clips_expire() == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert clip_services.clips_expire(now=timezone.now() + timedelta(days=31)) == 1


def test_the_host_deletes_any_clip_its_creator_their_own_and_nobody_else(clipped, client_for, host, listener, django_capture_on_commit_callbacks, tmp_path):
    path = f"/api/clips/{clipped.code}/"
    stranger = client_for(UserFactory())
    refused = stranger.delete(path)
    assert refused.status_code == 403 and "Only the host or the person who made this clip" in refused.json()["detail"]
    assert client_for(None).delete(path).status_code == 401
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(host).delete(path).status_code == 204
    assert not (tmp_path / clipped.file).exists()
    assert client_for(listener).delete(path).status_code == 404


def test_the_creator_deletes_their_own_clip(clipped, client_for, listener):
    assert client_for(listener).delete(f"/api/clips/{clipped.code}/").status_code == 204


def test_more_clips_a_minute_than_allowed_is_429_with_retry_after(recorded, listener, client_for):
    start_recording(recording_path(recorded), seconds=5)
    api = client_for(listener)
    assert [api.post(f"/api/spaces/{recorded.code}/clips/").status_code for _ in range(2)] == [202, 202]
    refused = api.post(f"/api/spaces/{recorded.code}/clips/")
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["code"] == "rate_limited" and "At most 2 clips a minute" in refused.json()["detail"]


def test_only_a_live_recorded_space_someone_is_in_can_be_clipped(recorded, host, listener, client_for, settings):
    api = client_for(listener)
    nothing = api.post(f"/api/spaces/{recorded.code}/clips/")
    assert (nothing.status_code, nothing.json()["code"]) == (409, "nothing_recorded")
    start_recording(recording_path(recorded), seconds=5)
    outsider = client_for(UserFactory()).post(f"/api/spaces/{recorded.code}/clips/")
    assert (outsider.status_code, outsider.json()["code"]) == (409, "not_participant")
    unrecorded = services.space_create(host=UserFactory(), title="Off the record")
    answer = client_for(unrecorded.host).post(f"/api/spaces/{unrecorded.code}/clips/")
    assert (answer.status_code, answer.json()["code"]) == (409, "not_recorded")
    services.space_end(space=recorded, actor=host)
    over = api.post(f"/api/spaces/{recorded.code}/clips/")
    assert (over.status_code, over.json()["code"]) == (409, "not_live")
    assert "replay" in over.json()["detail"]


def test_a_signed_out_listener_clips_and_deletes_their_own_clip(recorded, django_capture_on_commit_callbacks):
    from django.test import Client

    start_recording(recording_path(recorded), seconds=5)
    guest, other = Client(), Client()
    for visitor in (guest, other):
        visitor.get(f"/s/{recorded.code}/")  # the page gives them a listener id in their session
    assert guest.post(f"/api/spaces/{recorded.code}/join/", {}, content_type="application/json").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        made = guest.post(f"/api/spaces/{recorded.code}/clips/")
    assert made.status_code == 202 and made.json()["created_by"].startswith("Listener")
    clip = Clip.objects.get(code=made.json()["code"])
    assert clip.creator is None and clip.state == "ready" and clip.seconds == pytest.approx(5.0)
    assert other.delete(f"/api/clips/{clip.code}/").status_code == 401
    assert guest.delete(f"/api/clips/{clip.code}/").status_code == 204


def test_the_host_deletes_a_clip_from_its_page(clipped, client, host, recorded):
    client.force_login(host)
    page = client.get(f"/c/{clipped.code}/").content.decode()
    assert "Delete the clip" in page
    gone = client.post(f"/c/{clipped.code}/delete/")
    assert gone.status_code == 302 and gone["Location"] == f"/s/{recorded.code}/"
    assert client.get(f"/c/{clipped.code}/").status_code == 404
