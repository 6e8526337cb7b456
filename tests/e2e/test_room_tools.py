"""The room's tools in real browsers, with Chromium refusing to play sound before a tap (as phones
do): a host pins a link (a bad one is refused with a reason) that everyone sees at the top, a late
arrival included; a speaker's own mute shows on their tile for everyone, apart from the host's
"mute all"; the host's menus follow a full stage; host and listener reach their controls by keyboard
with a visible focus; joins, requests and role changes are announced in an aria-live region; on a
phone the host's queue of requests sits near the top. Screenshots go to test-artifacts/."""

import pytest

from rooms import services
from tests.factories import UserFactory
from tests.processes import ROOT

from .conftest import sign_in, wants_a_gesture

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ARTIFACTS = ROOT / "test-artifacts"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PIN = "https://example.org/agenda?week=48"


@pytest.fixture
def browser_options(monkeypatch) -> dict:
    return wants_a_gesture(monkeypatch)


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"SPACES_MAX_SPEAKERS": "2"}  # the host and one speaker fill the stage


def shoot(page, name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def tab_to(page, selector: str, presses: int = 60) -> None:
    """Press Tab until ``selector`` has the focus; it must show a visible focus ring then."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement?.matches(s)", selector):
            ring = page.evaluate("() => getComputedStyle(document.activeElement).boxShadow + getComputedStyle(document.activeElement).outlineStyle")
            assert page.evaluate("() => document.activeElement.matches(':focus-visible')"), selector
            assert ring not in ("nonenone", ""), f"{selector} has no visible focus: {ring}"
            return
    raise AssertionError(f"Tab never reached {selector}")


def menu_labels(page, name: str) -> list[str]:
    chip = page.locator("#listeners li", has_text=name)
    return [text.strip() for text in chip.locator(".menu button").all_text_contents()]


def test_room_tools_in_real_browsers(stack, browser, settings):
    settings.SPACES_MAX_SPEAKERS = 2  # as the stack's processes have it (stack_env)
    host_user = UserFactory(username="tools_host")
    UserFactory(username="fan")
    UserFactory(username="sam")
    space = services.space_create(host=host_user, title="Tools night")
    room = f"{stack.base}/s/{space.code}/"
    pages = {}
    for name in ("tools_host", "fan", "sam"):
        pages[name] = browser.new_context(viewport=DESKTOP).new_page()
        sign_in(pages[name], stack.base, name)
        pages[name].goto(room)
    host, fan, sam = pages["tools_host"], pages["fan"], pages["sam"]
    # On stage with a mic at once (its own sound may wait for a tap: this browser insists on one).
    host.wait_for_selector("#mic:visible", timeout=20000)
    listener = browser.new_context(viewport=DESKTOP).new_page()
    listener.goto(room)
    listener.click("#listen")  # a tap: this browser plays sound after one
    for person in (fan, sam):
        person.click("#listen")
    host.wait_for_selector("#listeners >> text=sam", timeout=10000)

    # Joins and requests are announced in a polite live region; a request reaches the host's queue.
    assert host.get_attribute("#feed", "aria-live") == "polite"
    host.wait_for_selector("#feed >> text=fan joined", timeout=10000)
    fan.click("#hand")
    host.wait_for_selector("#feed >> text=fan asked to speak", timeout=10000)
    host.wait_for_selector("#hands >> text=fan", timeout=5000)
    # On a phone the queue of requests is near the top, above the lists of people.
    host.set_viewport_size(PHONE)
    hands_top = host.locator("#staff-panel").bounding_box()["y"]
    assert hands_top < host.locator("#stage").bounding_box()["y"] and hands_top < 844, hands_top
    host.set_viewport_size(DESKTOP)
    assert "Invite to speak" in menu_labels(host, "sam")
    host.click("#hands button:has-text('Accept')")
    fan.wait_for_selector("#mic:visible", timeout=20000)
    listener.wait_for_selector("#feed >> text=fan is now speaker", timeout=5000)
    # The stage is full (2): nobody is offered "Invite to speak" or "Make co-host" any more.
    host.wait_for_function("![...document.querySelectorAll('#listeners li')].some((li) => li.textContent.includes('fan'))", timeout=5000)
    assert "Invite to speak" not in menu_labels(host, "sam") and "Make co-host" not in menu_labels(host, "sam")
    assert "Remove" in menu_labels(host, "sam")

    # The speaker mutes themself: everyone sees it on their tile, as their own mute.
    fan.click("#mic")
    listener.wait_for_selector("#stage .person:has-text('fan') .mic-self", timeout=5000)
    assert listener.text_content("#stage .person:has-text('fan') .talking").strip() == "muted"
    host.wait_for_selector("#stage .person:has-text('fan') .mic-self", timeout=5000)
    assert fan.text_content("#mic").strip() == "🔇 Unmute my mic"

    # The host pins a link: a bad one is refused with a reason, a good one shows for everyone.
    host.fill("#pin-form input[name=url]", "javascript:alert(document.cookie)")
    host.click("#pin-form button[type=submit]")
    host.wait_for_selector("#toasts-tools >> text=Only http:// and https:// links can be pinned", timeout=5000)
    assert listener.is_hidden("#pinned")
    host.fill("#pin-form input[name=url]", PIN)
    host.fill("#pin-form input[name=label]", "<b>Agenda</b> for tonight")
    host.click("#pin-form button[type=submit]")
    listener.wait_for_selector("#pinned:not([hidden])", timeout=5000)
    link = listener.locator("#pinned-link")
    assert link.text_content() == "<b>Agenda</b> for tonight"  # text, never markup
    assert link.get_attribute("href") == PIN and link.get_attribute("target") == "_blank"
    assert set(link.get_attribute("rel").split()) == {"noopener", "noreferrer", "nofollow"}
    assert listener.is_hidden("#unpin") and host.is_visible("#unpin")
    late = browser.new_context(viewport=DESKTOP).new_page()
    late.goto(room)
    late.wait_for_selector("#pinned:not([hidden]) >> text=Agenda", timeout=10000)  # from the snapshot

    # Mute all: the host mutes every speaker but themself; everyone sees the host's mute.
    host.click("#mute-all")
    listener.wait_for_selector("#stage .person:has-text('fan') .mic-off", timeout=5000)
    assert listener.text_content("#stage .person:has-text('fan') .talking").strip() == "muted by host"
    assert listener.locator("#stage .person:has-text('tools_host') .mic-on").count() == 1
    fan.wait_for_function("document.getElementById('mic').textContent.includes('Muted by host')", timeout=5000)
    shoot(host, "room-tools-host")
    shoot(listener, "room-tools-listener")

    # The host frees the seat: "Invite to speak" comes back on the menu without a reload.
    fan_tile = host.locator("#stage .person", has_text="fan")
    fan_tile.locator("summary").click()
    fan_tile.locator("button:has-text('Move to listeners')").click()
    host.wait_for_function(
        "[...document.querySelectorAll('#listeners li')].some((li) => li.textContent.includes('sam') "
        "&& li.textContent.includes('Invite to speak'))", timeout=10000)
    listener.wait_for_selector("#feed >> text=fan is now listener", timeout=5000)

    # Keyboard alone: the listener reaches a reaction and Leave, the signed-in fan (a listener again)
    # the request to speak, the host the mic and End Space, each with a visible focus ring.
    for page in (listener, fan, host):
        page.bring_to_front()
        page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    tab_to(listener, "[data-emoji]")
    tab_to(listener, "#leave")
    tab_to(fan, "#hand")
    fan.keyboard.press("Enter")
    host.wait_for_selector("#hands >> text=fan", timeout=5000)
    tab_to(host, "#mic")
    tab_to(host, "#end-space")
