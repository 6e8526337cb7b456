"""A whole show in real browsers: a host signs up and schedules a Space (meeting each scheduling
error on the way), a signed-out listener waits on the share link, Celery starts the Space and the
page goes live without a reload, the listener hears the host, a signed-in listener asks to speak,
is accepted and heard, then muted and removed, while a third page watches people arrive.
Screenshots of every page at phone and desktop widths go to test-artifacts/."""

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rooms.models import Space
from tests.factories import UserFactory

from tests.processes import ROOT, wait_for

from .conftest import audio_level, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ARTIFACTS = ROOT / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
ZONE = "Europe/Berlin"
SILENCE, SOUND = 0.003, 0.01


def shoot(page, name: str, *, fits: bool = True):
    """Screenshots at phone and desktop sizes; with ``fits``, the page must not be wider than the
    screen at either (a long word or address widening a phone's page shows up here)."""
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        if fits:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], f"{name} is {width}px wide on a {size['width']}px screen"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def local(moment: datetime, seconds: bool = False) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M:%S" if seconds else "%Y-%m-%dT%H:%M")


def schedule(page, title: str, when: str):
    # The page's script puts the browser's time zone in the form; a person never submits before
    # it ran, a test on a busy machine can (then the time would be read in UTC, and said so).
    page.wait_for_function("() => document.querySelector('#schedule-form input[name$=\"timezone\"]')?.value")
    page.fill("#id_schedule-title", title)
    page.fill("#id_schedule-scheduled_for", when)
    page.click("button[name=schedule]")


def test_a_whole_show(stack, browser):
    stack.celery()
    context = {"timezone_id": ZONE, "viewport": DESKTOP}

    # Anyone can see the home page.
    visitor = browser.new_context(**context).new_page()
    visitor.goto(stack.base + "/")
    shoot(visitor, "home")

    # The host signs up.
    host = browser.new_context(**context).new_page()
    host.goto(stack.base + "/accounts/signup/")
    shoot(host, "signup")
    host.fill("#id_username", "dj_host")
    host.fill("#id_password1", "a-long-passphrase-42")
    host.fill("#id_password2", "a-long-passphrase-42")
    host.click("button[type=submit]")
    host.wait_for_url("**/dashboard/")

    # Each scheduling error, inline and specific.
    now = datetime.now(ZoneInfo(ZONE))
    schedule(host, "Too far", local(now + timedelta(days=15)))
    error = host.text_content("#schedule-form")
    assert "latest you can pick" in error
    # Said in the viewer's own time zone (Berlin, CET in winter, CEST in summer), not in UTC.
    assert "UTC" not in error and ("GMT+1" in error or "GMT+2" in error or "CET" in error), error
    schedule(host, "Too early", local(now - timedelta(hours=1)))
    assert "in the past" in host.text_content("#schedule-form")
    shoot(host, "dashboard-errors")
    starts = datetime.now(ZoneInfo(ZONE)) + timedelta(seconds=25)
    schedule(host, "Friday jam", local(starts, seconds=True))
    host.wait_for_selector("text=Friday jam")
    schedule(host, "Second show", local(now + timedelta(days=2)))
    assert "already have a scheduled Space" in host.text_content("#schedule-form")
    link = host.get_attribute("#schedule-form .form-error a", "href")
    space = Space.objects.get(title="Friday jam")
    assert link.endswith(f"/s/{space.code}/")
    shoot(host, "dashboard")

    # A signed-out listener opens the share link on a phone and waits.
    listener = browser.new_context(**context).new_page()
    listener.goto(f"{stack.base}/s/{space.code}/")
    assert listener.is_visible("#countdown")
    shoot(listener, "share-scheduled")

    # Celery starts it on time; the listener's page goes live by itself.
    listener.wait_for_selector("[data-when=live]:not([hidden])", timeout=60000)
    space.refresh_from_db()
    assert space.state == "live" and space.started_by == "schedule"

    # The host opens the room: on stage with the mic on, never pressing Listen; the share link is
    # on screen, on the origin the page is served on. The listener presses Listen and hears them.
    host.goto(f"{stack.base}/s/{space.code}/")
    host.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)
    assert host.is_hidden("#listen") and host.is_hidden("#quiet")
    assert host.text_content("#mic").strip() == "🎙 Mute my mic"
    assert host.input_value("#share-link") == f"{stack.base}/s/{space.code}/"
    listener.click("#listen")
    assert wait_for(lambda: audio_level(listener) > SOUND, timeout=20), "the listener never heard the host"
    # Reloads bring the audio back by themselves: the host's mic and the listener's ears.
    host.reload()
    host.wait_for_function("document.getElementById('media-status').textContent.includes('microphone is live')", timeout=20000)
    listener.reload()
    listener.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    assert listener.is_hidden("#listen")
    assert wait_for(lambda: audio_level(listener) > SOUND, timeout=20), "the listener's audio did not come back after a reload"
    # Everyone sees the host's mic on.
    listener.wait_for_selector("#stage .person:has-text('dj_host') .mic-on", timeout=5000)

    # A third page watches; a signed-in fan joins, and the watcher sees it happen.
    watcher = browser.new_context(**context).new_page()
    watcher.goto(f"{stack.base}/s/{space.code}/")
    UserFactory(username="fan")
    fan = browser.new_context(**context).new_page()
    sign_in(fan, stack.base, "fan")
    fan.goto(f"{stack.base}/s/{space.code}/")
    fan.click("#listen")
    watcher.wait_for_selector("#feed >> text=fan joined", timeout=10000)
    host.wait_for_selector("#listeners >> text=fan", timeout=10000)

    # The host goes quiet; the fan asks to speak; the host accepts; the listener hears the fan.
    host.click("#mic")
    assert host.text_content("#mic").strip() == "🔇 Unmute my mic"
    assert wait_for(lambda: audio_level(listener) < SILENCE, timeout=10)
    # Everyone sees the host's own mute, and a muted host is never shown as speaking.
    watcher.wait_for_selector("#stage .person:has-text('dj_host') .mic-self", timeout=5000)
    for page in (watcher, listener):
        host_tile = page.locator("#stage .person", has_text="dj_host")
        assert host_tile.locator(".talking").text_content().strip() == "muted"
        assert "speaking" not in host_tile.get_attribute("class").split()
    fan.click("#hand")
    # The fan is told, and can take it back.
    fan.wait_for_selector("#toasts-dock >> text=Request sent", timeout=5000)
    assert "Request sent" in fan.text_content("#hand") and "Cancel" in fan.text_content("#hand")
    host.wait_for_selector("#hands >> text=fan", timeout=10000)
    shoot(host, "room-host")
    listening = int(watcher.text_content("#listener-count"))
    host.click("#hands button:has-text('Accept')")
    fan.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)
    # The promoted fan has a mic toggle and no Listen button; the watcher hears of it.
    assert fan.is_hidden("#listen") and fan.text_content("#mic").strip() == "🎙 Mute my mic"
    watcher.wait_for_selector("#feed >> text=fan is now speaker", timeout=5000)
    # The role change carries the new count: one fewer listening, on every page.
    watcher.wait_for_function(
        f"document.getElementById('listener-count').textContent.trim() === '{listening - 1}'", timeout=5000
    )
    assert wait_for(lambda: audio_level(listener) > SOUND, timeout=20), "the new speaker was not heard"
    shoot(listener, "room-listener")
    shoot(fan, "room-speaker")

    # The host mutes the fan (silence for the listener), then removes them.
    fan_tile = host.locator("#stage .person", has_text="fan")
    fan_tile.locator("summary").click()
    # Someone joins while the host's menu is open: the room re-renders and the menu stays open.
    lines = host.locator("#feed li").count()
    newcomer = browser.new_context(**context).new_page()
    newcomer.goto(f"{stack.base}/s/{space.code}/")
    newcomer.click("#listen")  # opening the page is watching; listening is joining
    host.wait_for_function(f"document.querySelectorAll('#feed li').length > {lines}", timeout=10000)
    fan_tile.locator("button:has-text('Mute')").click(timeout=3000)
    assert host.locator("#stage details[open]").count() == 0, "the menu closes once an action is chosen"
    assert wait_for(lambda: audio_level(listener) < SILENCE, timeout=5)
    watcher.wait_for_selector("#stage .person:has-text('fan') .mic-off", timeout=5000)
    # The fan's own control says the truth, and cannot be turned back on by them.
    fan.wait_for_function("document.getElementById('mic').textContent.includes('Muted by host')", timeout=5000)
    assert fan.get_attribute("#mic", "aria-disabled") == "true"
    assert "muted your microphone" in fan.text_content("#media-status")
    shoot(fan, "room-speaker-muted")
    host.once("dialog", lambda dialog: dialog.accept())
    fan_tile.locator("summary").click()
    fan_tile.locator("button:text-is('Remove')").click()
    fan.wait_for_selector("text=You were removed from this Space", timeout=10000)
    assert fan.text_content("#state-pill").strip() == "Removed"
    assert "goes on without you" in fan.text_content("#over-summary")
    shoot(fan, "room-removed")
    watcher.wait_for_selector("#stage .person:has-text('fan')", state="detached", timeout=5000)

    # The host ends the Space; every page shows it is over.
    host.once("dialog", lambda dialog: dialog.accept())
    host.click("#end-space")
    listener.wait_for_selector("[data-when=ended]:not([hidden])", timeout=10000)
    # The end screen comes with the length and the peak, without a reload, and a way back.
    listener.wait_for_function("document.getElementById('over-summary').textContent.includes('It ran for')", timeout=5000)
    assert "peak of" in listener.text_content("#over-summary")
    assert listener.get_attribute("[data-when=ended] a:has-text('Back to all Spaces')", "href") == "/"
    shoot(listener, "share-ended")
    assert Path(ARTIFACTS / "share-ended-phone.png").exists()
