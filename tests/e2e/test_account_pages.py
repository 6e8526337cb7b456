"""Accounts in real Chromium against the real stack: sign up with an email address, see who is
signed in, change the address on the profile, get a password-reset link by email (sent by the
stack's Celery worker) and use it; the service worker shows a pushed reminder and points it at the
Space. Every page passes axe-core (no serious or critical violation) at desktop and phone widths,
and is photographed into test-artifacts/."""

import json
import re

import pytest

from rooms import services
from tests.conftest import require
from tests.factories import UserFactory
from tests.processes import wait_for

from .test_accessibility import AXE, serious_violations
from .test_show import DESKTOP, shoot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

NEW_PASSWORD = "a-brand-new-passphrase-77"


@pytest.fixture
def stack_env(tmp_path):
    """The stack's worker writes emails as files the test reads."""
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }


def mail_bodies(stack) -> list[str]:
    folder = stack.tmp / "mail"
    return [path.read_text() for path in sorted(folder.iterdir())] if folder.exists() else []


def test_sign_up_profile_password_reset_and_a_pushed_reminder(stack, browser):
    require(AXE.exists(), "axe-core is needed: `make test` installs it")
    found = {}
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()

    page.goto(stack.base + "/accounts/signup/")
    page.fill("#id_username", "newbie")
    page.fill("#id_email", "newbie@example.org")
    page.fill("#id_password1", "correct horse battery")
    page.fill("#id_password2", "correct horse battery")
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/dashboard/" in url)
    assert page.locator(".site-header").inner_text().count("Signed in as newbie") == 1

    page.click("text=Signed in as")
    page.wait_for_url(lambda url: "/accounts/profile/" in url)
    assert page.input_value("#id_email") == "newbie@example.org"
    # Notifications are asked for on a click only: nothing was asked on the way here.
    assert page.evaluate("Notification.permission") == "default"
    found["profile"] = serious_violations(page)
    shoot(page, "profile")
    page.fill("#id_email", "not an address")
    page.click("text=Save email")
    assert "Enter a valid email address" in page.locator("#id_email-errors").inner_text()
    found["profile with an error"] = serious_violations(page)
    page.fill("#id_email", "newbie@example.net")
    page.click("text=Save email")
    assert "Your email address is now newbie@example.net." in page.locator(".messages").inner_text()

    # The service worker shows what a push service delivers, one per Space, opening the Space.
    space = services.space_create(host=UserFactory(), title="Pushed")
    context.grant_permissions(["notifications"], origin=stack.base)
    page.evaluate(
        """async () => {
          const reg = await navigator.serviceWorker.register('/static/sw.js');
          const worker = reg.installing || reg.waiting || reg.active;
          if (worker.state !== 'activated') await new Promise((ok) => worker.addEventListener('statechange', () => worker.state === 'activated' && ok()));
        }"""
    )
    cdp = context.new_cdp_session(page)
    registration = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registration.update({r["scopeURL"]: r["registrationId"] for r in e["registrations"]}))
    cdp.send("ServiceWorker.enable")
    for _ in range(50):  # CDP events arrive while Playwright's loop runs, so wait through it
        if registration.get(stack.base + "/static/"):
            break
        page.wait_for_timeout(100)
    assert registration.get(stack.base + "/static/"), registration
    payload = {"title": space.title, "body": "“Pushed” is live now.", "url": space.share_url, "tag": f"space-{space.code}"}
    for _ in range(2):
        cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": stack.base + "/", "registrationId": registration[stack.base + "/static/"], "data": json.dumps(payload),
        })
    shown = """async () => {
      const reg = await navigator.serviceWorker.getRegistration('/static/sw.js');
      return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data.url }));
    }"""
    notes = wait_for(lambda: page.evaluate(shown), timeout=5)
    assert notes == [{"title": "Pushed", "body": "“Pushed” is live now.", "tag": f"space-{space.code}", "url": space.share_url}]

    # Signed out: a reset link by email, used once.
    page.click("text=Sign out")
    page.wait_for_url(lambda url: url.rstrip("/") == stack.base)
    assert "Signed in as" not in page.locator(".site-header").inner_text()
    page.goto(stack.base + "/accounts/login/")
    page.click("text=Forgot your password?")
    found["password reset"] = serious_violations(page)
    shoot(page, "password-reset")
    page.fill("#id_email", "newbie@example.net")
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/accounts/password/reset/sent/"))
    found["reset sent"] = serious_violations(page)
    shoot(page, "password-reset-sent")
    assert wait_for(lambda: mail_bodies(stack), timeout=15), stack.tmp
    [body] = mail_bodies(stack)
    link = re.search(r"(http://127\.0\.0\.1:\d+/accounts/password/reset/\S+/)", body).group(1)
    assert link.startswith(stack.base)
    page.goto(link)
    page.wait_for_selector("#id_new_password1")
    found["new password"] = serious_violations(page)
    shoot(page, "password-reset-confirm")
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/accounts/password/reset/done/"))
    found["password changed"] = serious_violations(page)
    page.goto(link)
    assert "This link no longer works" in page.locator("main").inner_text()

    page.goto(stack.base + "/accounts/login/")
    page.fill("#id_username", "newbie")
    page.fill("#id_password", NEW_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    assert "Signed in as newbie" in page.locator(".site-header").inner_text()
    assert {name: v for name, v in found.items() if v} == {}
