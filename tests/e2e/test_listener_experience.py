"""A listener's side of the room in real Chromium, with the browser refusing sound before a tap
(as phones do): a restored tab that was listening comes back by itself and, when the browser
refuses to play, offers one "Tap to hear the room" that starts the sound; signed-out and
signed-in listeners reach every one of their controls by keyboard with a visible focus; a page
that only watches is not counted until it listens. Screenshots go to test-artifacts/."""

import re

import pytest
import requests
from rest_framework.authtoken.models import Token

from rooms import services
from tests.conftest import require
from tests.factories import UserFactory
from tests.processes import wait_for

from .conftest import audio_level, sign_in, wants_a_gesture
from .test_accessibility import AXE, serious_violations, tab_to
from .test_show import DESKTOP, PHONE, SOUND, shoot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PLAYING = "!document.getElementById('audio').paused"
REFUSED_PLAY = "spaces-test-refused-plays"


@pytest.fixture
def browser_options(monkeypatch) -> dict:
    return wants_a_gesture(monkeypatch)


# Watches the page without touching it: Playwright's own waits and evaluations run as a user
# gesture, which would let the page play, so the test learns what happens from console messages.
# It counts the browser's refusals (HTMLMediaElement.play() rejecting with NotAllowedError: the
# wrapped play() does what it did, so the refusal is Chromium's) and says when the page asks for
# the tap.
WATCH = f"""
(() => {{
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {{
    const started = play.call(this);
    started.catch((error) => {{
      if (error && error.name === 'NotAllowedError') {{
        sessionStorage.setItem('{REFUSED_PLAY}', String(Number(sessionStorage.getItem('{REFUSED_PLAY}') || 0) + 1));
        console.log('spaces-test: play refused');
      }}
    }});
    return started;
  }};
  document.addEventListener('DOMContentLoaded', () => {{
    const listen = document.getElementById('listen');
    new MutationObserver(() => {{
      if (!listen.hidden && listen.textContent.includes('Tap to hear')) console.log('spaces-test: tap asked');
    }}).observe(listen, {{ attributes: true, childList: true, characterData: true, subtree: true }});
  }});
}})();
"""


def counter(stack, code: str):
    """The Space's listener count as the app says it (its API: signed-out listeners live in the
    stack's own Redis)."""
    return lambda: requests.get(f"{stack.base}/api/spaces/{code}/", timeout=5).json()["listener_count"]


def open_room(stack, browser, host_name: str, title: str):
    """A live Space with its host on stage; returns the host's page, the room's URL and its count."""
    host_user = UserFactory(username=host_name)
    space = services.space_create(host=host_user, title=title)
    room = f"{stack.base}/s/{space.code}/"
    host = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(host, stack.base, host_name)
    host.goto(room)
    host.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)
    return host, room, counter(stack, space.code)


def test_a_restored_tab_needs_one_tap_where_the_browser_insists(stack, browser):
    host, room, listener_count = open_room(stack, browser, "radio_host", "Late night radio")
    code = room.rstrip("/").rsplit("/", 1)[1]

    # A tab that was listening, restored with no tap on the page yet: it joins the audio by
    # itself, the browser refuses to play it, and the page asks for one tap.
    restored = browser.new_context(viewport=PHONE)
    restored.add_init_script(f"sessionStorage.setItem('spaces:listening:{code}', '1')")
    restored.add_init_script(WATCH)
    back = restored.new_page()
    with back.expect_console_message(lambda message: message.text == "spaces-test: tap asked", timeout=25000):
        back.goto(room)
    assert back.is_visible("#listen:has-text('Tap to hear the room')")
    assert int(back.evaluate(f"sessionStorage.getItem('{REFUSED_PLAY}') || 0")) >= 1  # Chromium's NotAllowedError
    assert back.evaluate("document.getElementById('audio').paused") is True
    assert "Tap “Tap to hear the room”" in back.text_content("#media-status")
    # Joined already (its page said "listening"): counted while it waits for the tap.
    assert wait_for(lambda: listener_count() == 1, timeout=10)
    # On a phone every control of the bar is on screen, none pushed off an edge, and the bar (two
    # rows now) stays under 12 % of the screen.
    back.evaluate("window.scrollTo(0, 0)")
    for control in back.locator(".dock > button:visible, .dock > a:visible").all():
        box = control.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["y"] + box["height"] <= PHONE["height"], box
    assert back.locator(".dock").bounding_box()["height"] / PHONE["height"] < 0.12
    shoot(back, "room-tap-to-hear")
    # One tap: the sound plays, the host's voice (the fake microphone's tone) comes through.
    back.click("#listen")
    back.wait_for_function(PLAYING, timeout=5000)
    assert back.is_hidden("#listen")
    assert wait_for(lambda: audio_level(back) > SOUND, timeout=15), "the tapped page hears nothing"
    assert listener_count() == 1
    # Its own page counts it, and names it among the listeners (from the frames, without a reload).
    back.wait_for_function("document.getElementById('listener-count').textContent.trim() === '1'", timeout=5000)
    back.wait_for_selector("#listeners li", timeout=5000)



def test_listeners_work_by_keyboard_and_a_page_that_only_watches_is_not_counted(stack, browser):
    require(AXE.exists(), "axe-core is needed: `make browser-test-deps` installs it")
    UserFactory(username="fan")
    host, room, listener_count = open_room(stack, browser, "keys_host", "Keyboard hour")

    # A signed-out listener, by keyboard alone: Listen, the reactions, "Sign in to speak", Leave.
    guest = browser.new_context(viewport=DESKTOP).new_page()
    guest.goto(room)
    guest.wait_for_selector("#stage .person", timeout=10000)
    assert listener_count() == 0  # opening the page is watching
    tab_to(guest, "listen")
    guest.keyboard.press("Enter")  # a key press is a gesture: no tap needed after it
    guest.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    guest.wait_for_function(PLAYING, timeout=5000)
    assert wait_for(lambda: listener_count() == 1, timeout=10)
    tab_to(guest, "React 👏")
    guest.keyboard.press("Enter")
    host.wait_for_selector(".floating", state="attached", timeout=5000)
    tab_to(guest, "Sign in to speak")
    tab_to(guest, "leave")

    # A signed-in listener, by keyboard alone: not counted for opening the page; Listen, then
    # request to speak and cancel it, react, the captions' toggle, Leave.
    fan = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(fan, stack.base, "fan")
    fan.goto(room)
    fan.wait_for_selector("#stage .person", timeout=10000)
    fan.wait_for_selector("#hand", state="hidden", timeout=5000)  # asking to speak comes with listening
    assert listener_count() == 1
    tab_to(fan, "listen")
    fan.keyboard.press("Enter")
    fan.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    host.wait_for_selector("#listeners >> text=fan", timeout=10000)
    assert wait_for(lambda: listener_count() == 2, timeout=10)
    fan.wait_for_selector("#hand:visible", timeout=5000)
    tab_to(fan, "hand")
    fan.keyboard.press("Enter")
    fan.wait_for_function("document.getElementById('hand').textContent.includes('Request sent')", timeout=5000)
    host.wait_for_selector("#hands >> text=fan", timeout=5000)
    tab_to(fan, "hand")  # the same button now cancels
    fan.keyboard.press("Enter")
    fan.wait_for_function("document.getElementById('hand').textContent.includes('Request to speak')", timeout=5000)
    host.wait_for_selector("#hands >> text=No requests yet", timeout=5000)
    tab_to(fan, "React 🔥")
    if fan.is_visible("#captions-show"):
        tab_to(fan, "captions-show")
    stops = tab_to(fan, "leave")
    assert all(stop["ring"] for stop in stops)
    assert serious_violations(fan) == []
    shoot(fan, "room-listener-keyboard")

    # The host's pin form: its address field looks like every other field (not the browser's
    # grey box), and a long pinned address never widens a phone's page.
    long_link = "https://example.org/" + "agenda-" * 30
    host.fill("#pin-form input[name=url]", long_link)
    host.fill("#pin-form input[name=label]", "")
    looks = """(form) => ['url', 'label'].map((name) => { const s = getComputedStyle(form.querySelector(`input[name=${name}]`));
        return [s.backgroundColor, s.borderRadius, s.borderTopColor, s.color, s.paddingLeft]; })"""
    url_style, label_style = host.eval_on_selector("#pin-form", looks)
    assert url_style == label_style, (url_style, label_style)
    host.click("#pin-form button[type=submit]")
    fan.wait_for_selector("#pinned:not([hidden])", timeout=5000)
    for page in (host, fan):
        page.set_viewport_size(PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.set_viewport_size(DESKTOP)
    host.fill("#pin-form input[name=url]", "https://example.org/next")
    host.focus("#pin-form input[name=url]")
    assert serious_violations(host) == []
    shoot(host, "room-pin-form")

    # Leaving uncounts them.
    fan.click("#leave")
    assert wait_for(lambda: listener_count() == 1, timeout=10)


def test_the_end_screen_with_its_replay_and_the_api_docs_as_a_new_user_sees_them(stack, browser):
    """A recorded Space ends: a listener's page turns into the end screen by itself (length, peak,
    the replay with its download link, a way back), with no serious axe-core finding at either
    size; the API docs render from the app alone (no request to another origin)."""
    require(AXE.exists(), "axe-core is needed: `make browser-test-deps` installs it")
    host_user = UserFactory(username="rec_host")
    # Through the API, as a script would: the stack's own worker opens and records the room.
    token = Token.objects.get_or_create(user=host_user)[0].key
    created = requests.post(f"{stack.base}/api/spaces/", json={"title": "On the record tonight", "record": True},
                            headers={"Authorization": f"Token {token}"}, timeout=10)
    assert created.status_code == 201, created.text
    room = f"{stack.base}/s/{created.json()['code']}/"
    host = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(host, stack.base, "rec_host")
    host.goto(room)
    host.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)
    listener = browser.new_context(viewport=PHONE, timezone_id="Asia/Tokyo").new_page()  # not the server's UTC
    listener.goto(room)
    listener.click("#listen")
    listener.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    host.wait_for_timeout(3000)  # some of the host's tone into the recording
    host.once("dialog", lambda dialog: dialog.accept())
    host.click("#end-space")

    listener.wait_for_selector("[data-when=ended]:not([hidden])", timeout=10000)
    listener.wait_for_function("document.getElementById('over-summary').textContent.includes('It ran for')", timeout=5000)
    assert "peak of 1 listener" in listener.text_content("#over-summary")
    listener.wait_for_selector("audio.replay", timeout=30000)  # once the worker has encoded it
    assert listener.get_attribute("#replay-download", "href").endswith(".ogg")
    assert "null" not in listener.text_content("#replay") and listener.locator("#delete-replay").count() == 0
    # Drawn live as the server draws it on a reload: a human length, and until when the replay is kept
    # (in the viewer's zone).
    summary = listener.text_content("#over-summary")
    assert re.fullmatch(r"It ran for \d+ seconds with a peak of 1 listener\.", summary), summary
    kept = listener.locator("#replay time[data-local]")
    assert "GMT+9" in kept.text_content(), kept.text_content()
    assert re.fullmatch(r"Kept until .+\. Download the replay", listener.text_content("#replay p")), listener.text_content("#replay p")
    served = listener.request.get(room).text()
    assert f'<p class="muted" id="over-summary">{summary}</p>' in served
    until = re.search(r'Kept until <time datetime="([^"]+)" data-local>', served).group(1)
    same = "([a, b]) => Math.abs(Date.parse(a) - Date.parse(b)) < 1000"
    assert listener.evaluate(same, [until, kept.get_attribute("datetime")]), (until, kept.get_attribute("datetime"))
    assert listener.is_visible("[data-when=ended] a:has-text('Back to all Spaces')")
    assert listener.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(listener) == []
    shoot(listener, "share-replay")
    assert host.is_visible("#delete-replay") and host.is_visible("[data-when=ended] a:has-text('Your dashboard')")
    shoot(host, "share-replay-host")

    # The API docs, served by the app itself: every request stays on its origin.
    docs = browser.new_context(viewport=DESKTOP).new_page()
    asked: list[str] = []
    docs.on("request", lambda request: asked.append(request.url))
    docs.goto(f"{stack.base}/api/docs/")
    docs.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    docs.wait_for_selector(".opblock-summary-path >> text=/api/spaces/", timeout=15000)
    elsewhere = [url for url in asked if not url.startswith(stack.base) and not url.startswith("data:")]
    assert elsewhere == []
    assert docs.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    shoot(docs, "api-docs")
