"""Replays: the WAV the media server records becomes Ogg Opus (opus-tools' opusenc, for real),
small enough to keep (at most 1 MB a minute), seekable, and announced to the end screens."""

import shutil
import struct
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from rooms import publisher, services
from rooms.models import Space
from rooms.services.recording import recording_path, replay_path
from tests.conftest import require
from tests.factories import SpaceFactory

pytestmark = pytest.mark.django_db

MB = 1_000_000


def write_tone(path: Path, seconds: float, *, noise: bool = False) -> Path:
    """A mono 48 kHz 16-bit WAV as Janus records a mix (made by sox): a 440 Hz tone, or white
    noise, the hardest thing to make small."""
    require(shutil.which("sox") is not None, "sox is needed to make the test recording")
    path.parent.mkdir(parents=True, exist_ok=True)
    sound = ["whitenoise", "vol", "0.5"] if noise else ["sine", "440", "vol", "0.5"]
    subprocess.run(["sox", "-n", "-r", "48000", "-b", "16", "-c", "1", str(path), "synth", str(seconds), *sound], check=True)
    return path


def ogg_pages(path: Path) -> list[int]:
    """The granule position (samples at 48 kHz) of every Ogg page of the file."""
    data, at, granules = path.read_bytes(), 0, []
    while at < len(data):
        assert data[at:at + 4] == b"OggS", f"not an Ogg page at byte {at}"
        granules.append(struct.unpack_from("<q", data, at + 6)[0])
        segments = data[at + 26]
        at += 27 + segments + sum(data[at + 27:at + 27 + segments])
    return granules


@pytest.fixture
def encode(django_capture_on_commit_callbacks):
    """``space_replay_encode`` as the worker runs it: what it leaves for after commit runs too."""

    def run(space_id: int) -> Space:
        with django_capture_on_commit_callbacks(execute=True):
            return services.space_replay_encode(space_id=space_id)

    return run


@pytest.fixture
def recorded(settings, tmp_path):
    require(shutil.which("opusenc") is not None, "opusenc (Debian package opus-tools) is needed")
    settings.MEDIA_ROOT = tmp_path
    settings.JANUS = {**settings.JANUS, "RECORDINGS_DIR": str(tmp_path / "recordings")}
    return SpaceFactory(state=Space.State.ENDED, record=True, ended_at=timezone.now(),
                        started_at=timezone.now() - timedelta(minutes=1))


def test_a_minute_of_noisy_mix_becomes_ogg_opus_under_a_megabyte_that_can_be_seeked(recorded, encode, tmp_path):
    wav = write_tone(recording_path(recorded), seconds=60, noise=True)
    assert wav.stat().st_size > 5 * MB  # what was kept before: WAV, 5.8 MB a minute

    space = encode(recorded.pk)

    replay = tmp_path / space.replay
    assert replay == replay_path(recorded) and replay.suffix == ".ogg"
    assert not wav.exists(), "the WAV is dropped once the replay is encoded"
    assert replay.stat().st_size <= 1 * MB, f"{replay.stat().st_size} bytes for one minute"
    assert space.replay_url.endswith(".ogg") and space.replay_expires_at > timezone.now()
    # Opus in Ogg, one minute long, with a page (a seek point) at least every second.
    granules = ogg_pages(replay)
    assert replay.read_bytes()[28:36] == b"OpusHead"
    audio = [g for g in granules if g > 0]
    assert 59.9 <= (audio[-1] - 312) / 48000 <= 60.1  # less opusenc's pre-skip
    assert max(b - a for a, b in zip(audio, audio[1:])) <= 48000
    info = subprocess.run(["opusinfo", str(replay)], capture_output=True, text=True, check=True).stdout
    assert "Playback length: 1m:00" in info, info


def test_the_end_screens_learn_of_the_replay_from_a_frame(recorded, django_capture_on_commit_callbacks):
    write_tone(recording_path(recorded), seconds=2)
    with publisher.capture() as frames, django_capture_on_commit_callbacks(execute=True):
        space = services.space_replay_encode(space_id=recorded.pk)
    assert [(f["type"], f["data"]["replay_url"]) for f in frames] == [("space.updated", space.replay_url)]
    assert space.replay_url.endswith(f"space-{recorded.code}.ogg")


def test_encoding_twice_changes_nothing(recorded, encode, tmp_path):
    write_tone(recording_path(recorded), seconds=2)
    first = encode(recorded.pk)
    again = encode(recorded.pk)
    assert again.replay == first.replay and (tmp_path / again.replay).exists()


def test_a_recording_opusenc_cannot_read_stays_a_wav_replay_rather_than_none(recorded, encode, tmp_path):
    recording_path(recorded).parent.mkdir(parents=True)
    recording_path(recorded).write_bytes(b"RIFF but not a WAV")
    space = encode(recorded.pk)
    assert space.replay == f"recordings/space-{recorded.code}.wav"
    assert not replay_path(recorded).exists() and not replay_path(recorded).with_suffix(".ogg.part").exists()


def test_a_replay_is_served_in_byte_ranges_so_players_can_seek(recorded, encode, tmp_path, rf):
    from rooms.views import media_file

    write_tone(recording_path(recorded), seconds=5)
    space = encode(recorded.pk)
    whole = (tmp_path / space.replay).read_bytes()

    full = media_file(rf.get("/"), space.replay)
    assert full.status_code == 200 and full["Accept-Ranges"] == "bytes" and full["Content-Type"] == "audio/ogg"
    assert b"".join(full.streaming_content) == whole
    part = media_file(rf.get("/", HTTP_RANGE="bytes=100-199"), space.replay)
    assert part.status_code == 206 and part.content == whole[100:200]
    assert part["Content-Range"] == f"bytes 100-199/{len(whole)}"
    tail = media_file(rf.get("/", HTTP_RANGE="bytes=-50"), space.replay)
    assert tail.status_code == 206 and tail.content == whole[-50:]
    beyond = media_file(rf.get("/", HTTP_RANGE=f"bytes={len(whole)}-"), space.replay)
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(whole)}"


def test_the_media_route_serves_nothing_outside_media_root(recorded, rf):
    from django.http import Http404

    from rooms.views import media_file

    for path in ("../../etc/passwd", "recordings/nothing-here.ogg"):
        with pytest.raises(Http404):
            media_file(rf.get("/"), path)
