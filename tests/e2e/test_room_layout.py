"""Where the live room puts things, in real Chromium: the stage is the first card of the main
column at desktop and phone sizes; captions sit under it, as a small strip for the host while they
are off and as nothing at all for a listener, and as the lines card once they are on. axe-core
finds nothing serious in either state. Screenshots go to test-artifacts/."""

import pytest

from tests.conftest import require

from .test_accessibility import AXE, serious_violations
from .test_listener_experience import open_room
from .test_show import DESKTOP, PHONE, shoot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

BOX = "(id) => { const r = document.getElementById(id).closest('section, aside').getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; }"
BOXES = f"""() => {{
  const box = {BOX};
  const main = document.querySelector('[data-when=live] > .grid');
  return {{stage: box('stage-title'), captions: box('captions-title'), listeners: box('listeners-title'),
           feed: box('feed-title'), firstInMain: main.firstElementChild.querySelector('h2').id,
           captionsShown: !document.getElementById('captions').hidden}};
}}"""


def layout(page, size):
    page.set_viewport_size(size)
    page.evaluate("window.scrollTo(0, 0)")
    return page.evaluate(BOXES)


def test_the_stage_leads_the_room_and_captions_sit_under_it_only_taking_room_when_on(stack, browser):
    require(AXE.exists(), "axe-core is needed: `make browser-test-deps` installs it")
    host, room, _ = open_room(stack, browser, "layout_host", "Layout check")
    listener = browser.new_context(viewport=DESKTOP).new_page()
    listener.goto(room)
    listener.wait_for_selector("#stage li")

    # Captions off: the host has a strip under the stage (to turn them on); a listener has nothing.
    host.wait_for_selector("#captions:not([hidden])", timeout=10000)
    for page in (host, listener):
        for size in (DESKTOP, PHONE):
            at = layout(page, size)
            assert at["firstInMain"] == "stage-title", (size, at)
            assert at["stage"]["y"] < at["listeners"]["y"], (size, at)
            if size is DESKTOP:
                assert at["feed"]["x"] > at["stage"]["x"] + at["stage"]["w"], at  # activity: the side column
                assert abs(at["stage"]["y"] - at["feed"]["y"]) < 2, at  # no gap above the stage
            else:
                assert at["feed"]["y"] > at["listeners"]["y"], at
    host_at = layout(host, DESKTOP)
    assert host_at["captionsShown"] and host_at["captions"]["x"] == host_at["stage"]["x"]
    assert host_at["stage"]["y"] < host_at["captions"]["y"] < host_at["listeners"]["y"]
    assert host_at["captions"]["h"] < 140, host_at  # a strip: title, one sentence, the buttons
    assert host.is_hidden("#caption-lines") and host.is_hidden("#captions-show")
    assert not layout(listener, DESKTOP)["captionsShown"]
    assert serious_violations(host) == []
    shoot(host, "room-layout-captions-off-host")
    shoot(listener, "room-layout-captions-off-listener")

    # Captions on: the listener's card comes, under the stage, in the main column.
    host.click("#captions-toggle")
    listener.wait_for_selector("#captions:not([hidden])", timeout=10000)
    for size in (DESKTOP, PHONE):
        at = layout(listener, size)
        assert at["firstInMain"] == "stage-title", (size, at)
        assert at["captions"]["x"] == at["stage"]["x"], (size, at)
        assert at["stage"]["y"] < at["captions"]["y"] < at["listeners"]["y"], (size, at)
    assert listener.is_visible("#captions-show")
    assert serious_violations(listener) == []
    shoot(listener, "room-layout-captions-on-listener")
