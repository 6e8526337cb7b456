"""Accessibility and the phone layout, in real Chromium against the real stack: axe-core (the npm
package `make test` installs under tests/node_modules) finds no serious or critical violation on
any page at desktop and phone sizes; the live room works by keyboard alone; what happens in it is
announced; reactions keep still for people who asked for less motion; on a phone the mic toggle
and End Space are on screen without scrolling and the fixed bar takes under 12 % of it; the share link is on screen with Copy and the share
sheet; a tab that was listening listens again by itself."""

from datetime import UTC, datetime, timedelta

import pytest
import requests
from rest_framework.authtoken.models import Token

from tests.conftest import require
from tests.factories import UserFactory
from tests.processes import ROOT

from .conftest import sign_in
from .test_show import DESKTOP, PHONE, shoot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

AXE = ROOT / "tests" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")

RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
  }));
}"""

FOCUS_VISIBLE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;  // the focus left the page (after its last stop)
  const style = getComputedStyle(el);
  return { id: el.id || el.getAttribute("aria-label") || el.textContent.trim().slice(0, 20),
           ring: style.boxShadow !== "none" || (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) };
}"""


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical findings on the page, at desktop and phone widths."""
    found = []
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        found += [v | {"width": size["width"]} for v in page.evaluate(RUN_AXE) if v["impact"] in SERIOUS]
    page.set_viewport_size(DESKTOP)
    return found


def tab_to(page, element_id: str, limit: int = 60) -> list[dict]:
    """Press Tab (round the page, as a keyboard user does) until `element_id` has the focus; every
    stop on the way must show where the focus is. Returns the stops."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUS_VISIBLE)
        if stop is None:
            continue
        stops.append(stop)
        assert stop["ring"], f"no visible focus on {stop['id']!r} (after {[s['id'] for s in stops]})"
        if stop["id"] == element_id:
            return stops
    raise AssertionError(f"#{element_id} is not reachable by Tab: {[s['id'] for s in stops]}")


def test_every_page_passes_axe_and_the_room_works_by_keyboard_and_on_a_phone(stack, browser):
    require(AXE.exists(), "axe-core is needed: `make browser-test-deps` installs it")
    host_user = UserFactory(username="anna")
    UserFactory(username="fan")
    token = Token.objects.get_or_create(user=host_user)[0].key
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"

    pages = {}
    visitor = browser.new_context(viewport=DESKTOP).new_page()
    for name, path in (("home", "/"), ("signup", "/accounts/signup/"), ("login", "/accounts/login/")):
        visitor.goto(stack.base + path)
        pages[name] = serious_violations(visitor)
    shoot(visitor, "login")

    host = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(host, stack.base, "anna")
    host.goto(stack.base + "/dashboard/")
    pages["dashboard"] = serious_violations(host)

    when = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    scheduled = api.post(f"{stack.base}/api/spaces/", json={"title": "Later this week", "scheduled_for": when})
    assert scheduled.status_code == 201, scheduled.text
    visitor.goto(f"{stack.base}/s/{scheduled.json()['code']}/")
    pages["share page"] = serious_violations(visitor)
    assert api.post(f"{stack.base}/api/spaces/{scheduled.json()['code']}/cancel/").status_code == 200

    # The live room, as its host sees it (on stage, mic on) and as a signed-in listener does.
    live = api.post(f"{stack.base}/api/spaces/", json={"title": "Open mic"})
    assert live.status_code == 201, live.text
    room = f"{stack.base}/s/{live.json()['code']}/"
    host.goto(room)
    host.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)
    fan = browser.new_context(viewport=DESKTOP, reduced_motion="reduce").new_page()
    sign_in(fan, stack.base, "fan")
    fan.goto(room)
    fan.wait_for_selector("#stage .person", timeout=10000)

    # By keyboard alone: the fan reaches Listen and the hand, and asks to speak with Enter.
    tab_to(fan, "listen")
    fan.keyboard.press("Enter")
    fan.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    tab_to(fan, "hand")
    fan.keyboard.press("Enter")
    fan.wait_for_function("document.getElementById('hand').textContent.includes('Request sent')", timeout=5000)
    # Joins and requests are announced to the host through a live region.
    assert host.get_attribute("#feed", "aria-live") == "polite"
    host.wait_for_selector("#feed >> text=fan joined", timeout=10000)
    host.wait_for_selector("#feed >> text=fan asked to speak", timeout=10000)
    # The host reaches the mic, the request's Accept and End Space by keyboard.
    tab_to(host, "mic")
    tab_to(host, "end-space")
    host.focus("#hands button:has-text('Accept')")
    host.keyboard.press("Enter")
    # The role change is announced to everyone, and the fan's page says it to them too.
    fan.wait_for_selector("#feed >> text=fan is now speaker", timeout=10000)
    fan.wait_for_selector("#toasts-dock >> text=You are now a speaker", timeout=10000)
    fan.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)
    tab_to(fan, "mic")
    pages["live room (host)"] = serious_violations(host)
    pages["live room (speaker)"] = serious_violations(fan)
    shoot(host, "room-keyboard-host")
    failing = {name: found for name, found in pages.items() if found}
    assert failing == {}, "\n".join(
        f"{name} at {v['width']}px: {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"])
        for name, found in failing.items() for v in found
    )

    # Less motion asked for: a reaction appears without flying.
    fan.click("[data-emoji='👏']")
    host.wait_for_selector(".floating", state="attached", timeout=5000)
    assert host.eval_on_selector(".floating", "el => getComputedStyle(el).animationName") == "float"
    fan.wait_for_selector(".floating", state="attached", timeout=5000)
    assert fan.eval_on_selector(".floating", "el => getComputedStyle(el).animationName") == "none"

    # On a phone: the mic toggle and End Space are on screen without scrolling, and the fixed bar
    # takes under 12 % of the screen.
    host.set_viewport_size(PHONE)
    host.evaluate("window.scrollTo(0, 0)")
    for control in ("#mic", "#end-space"):
        box = host.locator(control).bounding_box()
        assert box and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], (control, box)
    fixed = host.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter((el) => ['fixed', 'sticky'].includes(getComputedStyle(el).position) && el.offsetHeight > 0
                        && !el.classList.contains('floating'))
        .map((el) => ({cls: el.className, height: el.getBoundingClientRect().height}))""")
    share = sum(bar["height"] for bar in fixed) / PHONE["height"]
    assert share < 0.12, f"fixed bars take {share:.0%} of a phone's screen: {fixed}"
    host.screenshot(path=str(ROOT / "test-artifacts" / "room-host-phone-viewport.png"))

    # The share link on a phone: Copy puts it on the clipboard, and the system's share sheet is
    # offered (headless Chromium on Linux has no navigator.share: a stand-in records the call).
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.base)
    phone.add_init_script("navigator.share = (data) => { window.shared = data; return Promise.resolve(); };")
    sharer = phone.new_page()
    sharer.goto(room)
    assert sharer.input_value("#share-link") == room
    sharer.click("#copy-link")
    sharer.wait_for_selector("#toasts-share >> text=Link copied", timeout=5000)
    assert sharer.evaluate("navigator.clipboard.readText()") == room
    sharer.click("#share-native")
    assert sharer.evaluate("window.shared.url") == room

    # A tab that was listening (a restored tab, say) listens again by itself, Listen hidden.
    tab = browser.new_context(viewport=PHONE)
    tab.add_init_script(f"sessionStorage.setItem('spaces:listening:{live.json()['code']}', '1')")
    back = tab.new_page()
    back.goto(room)
    back.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    back.wait_for_function("!document.getElementById('audio').paused", timeout=5000)
    assert back.is_hidden("#listen")
