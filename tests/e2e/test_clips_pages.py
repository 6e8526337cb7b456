"""Clips and host analytics in real browsers on the real stack: Janus records a live Space's mix
(the host's fake microphone plays a tone), a listener presses "Clip the last 30 s", the stack's
Celery worker cuts the growing WAV and encodes it with opusenc, the clip's page previews and plays
it; beat samples the listener count every second and the host reads the analytics page. Screenshots
of the clip page and the analytics page at phone and desktop widths go to test-artifacts/."""

import re
import subprocess
import wave
from array import array
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from analytics.models import ListenerSample
from clips import wav
from clips.models import Clip
from tests.factories import UserFactory
from tests.processes import ROOT, wait_for

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ARTIFACTS = ROOT / "test-artifacts"
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"SPACES_ANALYTICS_SAMPLE_INTERVAL": "1"}


def shoot(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in SIZES.items():
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(SIZES["desktop"])


def test_a_listener_clips_a_live_recorded_space_and_the_host_reads_its_analytics(stack, browser):
    stack.celery()  # beat: the listener sampler, every second here
    host = UserFactory(username="clip_host")
    UserFactory(username="clipper")
    token = Token.objects.get_or_create(user=host)[0].key
    created = requests.post(f"{stack.base}/api/spaces/", json={"title": "Clip night", "record": True},
                            headers={"Authorization": f"Token {token}"})
    assert created.status_code == 201, created.text
    code = created.json()["code"]

    on_stage = browser.new_context().new_page()
    sign_in(on_stage, stack.base, "clip_host")
    on_stage.goto(f"{stack.base}/s/{code}/")
    on_stage.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)

    listener = browser.new_context(viewport=SIZES["desktop"]).new_page()
    sign_in(listener, stack.base, "clipper")
    listener.goto(f"{stack.base}/s/{code}/")
    listener.click("#listen")
    # The host's tone has been in the recording since they came on stage: wait for three seconds
    # of it (a loaded machine can be slower to get here than to start the recording).
    growing = Path(stack.env["MEDIA_ROOT"]) / "recordings" / f"space-{code}.wav.tmp"
    recorded = wait_for(lambda: recorded_seconds(growing) >= 3.0, timeout=20)
    assert recorded, f"the recording holds {recorded_seconds(growing)} s"
    listener.click("#clip-make")
    listener.wait_for_function("!document.getElementById('clip-status').textContent.startsWith('Clipping')", timeout=20000)
    assert listener.is_visible("#clip-made"), listener.text_content("#clip-status")
    clip = Clip.objects.get(space__code=code)
    assert clip.state == "ready" and listener.get_attribute("#clip-made", "href") == f"/c/{clip.code}/"
    assert 2.0 <= clip.seconds <= 30.0 and clip.creator_name == "clipper"
    assert listener.locator("#clip-list a", has_text="Clip by clipper").count() == 1
    # What Janus recorded is in the clip: the host's tone, not silence.
    decoded = Path(stack.tmp) / "clip.wav"
    subprocess.run(["opusdec", "--quiet", "--rate", "48000", str(Path(stack.env["MEDIA_ROOT"]) / clip.file), str(decoded)], check=True)
    with wave.open(str(decoded)) as sound:
        loudest = max(abs(v) for v in array("h", sound.readframes(sound.getnframes())))
    assert loudest > 1000, f"the clip is silent (peak {loudest})"

    # Its page, signed out: Open Graph audio tags for link previews, and it plays and seeks.
    visitor = browser.new_context(viewport=SIZES["desktop"]).new_page()
    visitor.goto(f"{stack.base}/c/{clip.code}/")
    assert visitor.get_attribute('meta[property="og:audio"]', "content") == f"{stack.base}/c/{clip.code}/audio.ogg"
    assert visitor.get_attribute('meta[property="og:audio:type"]', "content") == "audio/ogg"
    visitor.evaluate("document.querySelector('audio.replay').play()")
    visitor.wait_for_function("document.querySelector('audio.replay').currentTime > 0.5", timeout=10000)
    assert visitor.evaluate("isFinite(document.querySelector('audio.replay').duration)")
    part = requests.get(f"{stack.base}/c/{clip.code}/audio.ogg", headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and re.fullmatch(r"bytes 10-99/\d+", part.headers["Content-Range"])
    assert wait_for(lambda: Clip.objects.get(pk=clip.pk).plays >= 1, timeout=5)
    shoot(visitor, "clip")

    # The host's analytics: the worker sampled the listener every second while live.
    assert wait_for(lambda: ListenerSample.objects.filter(space__code=code, listeners=1).count() >= 2, timeout=15)
    on_stage.goto(f"{stack.base}/dashboard/spaces/{code}/analytics/")
    assert on_stage.locator("svg.chart polyline").count() == 1
    assert on_stage.text_content("#stat-peak") == "1" and on_stage.text_content("#stat-clip-plays") != "0"
    shoot(on_stage, "analytics")
    assert visitor.goto(f"{stack.base}/dashboard/spaces/{code}/analytics/").url.startswith(f"{stack.base}/accounts/login/")


def recorded_seconds(growing: Path) -> float:
    """How many seconds of audio a growing recording holds now (0 before it exists)."""
    try:
        fmt = wav.read_format(growing)
        return wav.audio_bytes(growing, fmt) / fmt.byte_rate
    except (OSError, wav.NotAWav):
        return 0.0
