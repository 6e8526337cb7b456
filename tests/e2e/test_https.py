"""The production front door, end to end: Caddy with the Caddyfile deploy/install renders (its own CA,
on free ports) in front of real daphne, Janus and a Celery worker that run with the settings the
install writes (SPACES_DEBUG=0, fresh secrets, SPACES_TRUSTED_PROXIES=1, the https origin in
ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS and SITE_URL, JANUS_PUBLIC_URL=wss://<host>/janus).

The site's name is spaces.test, which Chromium resolves to this machine (--host-resolver-rules), and
Chromium trusts Caddy's root certificate through an NSS database of its own, as a browser trusts a
real CA. The name is not localhost on purpose: over plain http such a page gets no
navigator.mediaDevices, so a host who speaks here speaks because the site is https. The host goes
live and publishes the fake microphone; a signed-out listener hears it; the room's websocket (/ws/)
and Janus's (/janus) both go through Caddy on the https port; the app sees its requests as https
and never a client's made-up X-Forwarded-For. Screenshots of both pages go to test-artifacts/."""

import os
import shutil
import socket
import subprocess
from types import SimpleNamespace

import pytest
import requests
from axes.models import AccessAttempt, AccessLog

from rooms.models import Space
from tests.conftest import require
from tests.factories import UserFactory
from tests.processes import ROOT, Process, free_port, wait_for
from tests.test_deploy import install, read_settings

from .conftest import audio_level, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HOST = "spaces.test"
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
SOUND = 0.01
JANUS_SECRETS = {
    "JANUS_ADMIN_KEY": "ADMIN_KEY", "JANUS_ADMIN_SECRET": "ADMIN_SECRET", "JANUS_ROOM_SECRET": "ROOM_SECRET",
    "JANUS_TOKEN_SECRET": "TOKEN_SECRET", "JANUS_EVENTS_SECRET": "EVENTS_SECRET",
}
# What the services take from the install's settings file. The rest of it (database, Redis, ports,
# folders) the stack sets for itself; TURN has tests of its own.
FROM_INSTALL = (
    "SPACES_DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SITE_URL", "SPACES_TRUSTED_PROXIES",
    "JANUS_PUBLIC_URL", *JANUS_SECRETS,
)


@pytest.fixture
def resolve_host(monkeypatch):
    """spaces.test is this machine for the test's own requests too."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real("127.0.0.1" if host == HOST else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def site(tmp_path):
    """The install's settings file for https://spaces.test:<port>, written before the stack starts."""
    require(shutil.which("caddy") is not None, "caddy is not installed (deploy/install-system-deps)")
    require(shutil.which("certutil") is not None, "certutil is needed (Debian package libnss3-tools)")
    root = tmp_path / "server"
    http_port, https_port = free_port(), free_port()
    install(
        root, "--render-only", "--tls", "internal", "--http-port", str(http_port), "--https-port", str(https_port),
        "--public-ip", "127.0.0.1", "--set", "CADDY_ADMIN=off", HOST,
    )
    origin = f"https://{HOST}:{https_port}"
    return SimpleNamespace(root=root, http_port=http_port, https_port=https_port, origin=origin,
                           settings=read_settings(root))


@pytest.fixture
def stack_env(site) -> dict[str, str]:
    """daphne, the worker and Janus run with the production settings the install wrote."""
    return {name: site.settings[name] for name in FROM_INSTALL}


@pytest.fixture
def front_door(site, stack, settings, resolve_host):
    """Caddy with the install's Caddyfile, rendered again (an upgrade's run) now that the stack's
    daphne and Janus websocket ports are known; its CA's root certificate and the origin."""
    settings.JANUS = {**settings.JANUS, **{key: site.settings[name] for name, key in JANUS_SECRETS.items()}}
    install(
        site.root, "--render-only", "--set", f"SPACES_PORT={stack.env['SPACES_PORT']}",
        "--set", f"JANUS_WS_PORT={stack.env['JANUS_WS_PORT']}", "--set", f"MEDIA_ROOT={stack.env['MEDIA_ROOT']}",
    )
    data = stack.tmp / "caddy-data"
    env = {**os.environ, "HOME": str(stack.tmp), "XDG_DATA_HOME": str(data), "XDG_CONFIG_HOME": str(data)}
    caddy = Process(
        ["caddy", "run", "--adapter", "caddyfile", "--config", str(site.root / "etc" / "caddy" / "Caddyfile")],
        env, stack.tmp / "caddy.log",
    )
    ca = data / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    def ready():
        return ca.exists() and requests.get(f"{site.origin}/", verify=str(ca), timeout=2).status_code == 200

    try:
        assert wait_for(ready, timeout=30), caddy.tail()
        yield SimpleNamespace(**vars(site), ca=str(ca), caddy=caddy)
    finally:
        caddy.stop()


@pytest.fixture
def browser_options(front_door, tmp_path):
    """Chromium resolves spaces.test to this machine and trusts Caddy's CA: the root certificate in
    the NSS database under its HOME, as `certutil` adds a CA for Chromium on Linux."""
    home = tmp_path / "chromium-home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-t", "C,,", "-n", "Spaces test CA (Caddy)",
                    "-i", front_door.ca], check=True, capture_output=True)
    return {"args": [f"--host-resolver-rules=MAP {HOST} 127.0.0.1"], "env": {**os.environ, "HOME": str(home)}}


def watch_websockets(page) -> list:
    """Every websocket the page opens, with the text frames it received."""
    opened = []

    def on_websocket(ws):
        entry = SimpleNamespace(url=ws.url, received=[])
        ws.on("framereceived", lambda payload: entry.received.append(payload))
        opened.append(entry)

    page.on("websocket", on_websocket)
    return opened


def hears(page, timeout: float) -> float | None:
    return wait_for(lambda: (level := audio_level(page)) > SOUND and level, timeout=timeout, interval=0.2)


def secure_context(page) -> dict:
    return page.evaluate(
        "() => ({protocol: location.protocol, secure: window.isSecureContext,"
        " microphone: typeof navigator.mediaDevices?.getUserMedia})"
    )


def test_a_space_over_https_through_caddy(stack, front_door, browser):
    origin, ca, web_port = front_door.origin, front_door.ca, stack.env["SPACES_PORT"]
    janus_url = f"wss://{HOST}:{front_door.https_port}/janus"
    assert front_door.settings["JANUS_PUBLIC_URL"] == janus_url and front_door.settings["SITE_URL"] == origin

    # Plain http on Caddy's port is sent to https on the site's port, and daphne asked directly (no
    # proxy saying https) redirects too; through Caddy the app sees https: no redirect, and the
    # HSTS header Django sends on secure requests only.
    redirected = requests.get(f"http://{HOST}:{front_door.http_port}/dashboard/", allow_redirects=False, timeout=5)
    assert redirected.status_code == 308 and redirected.headers["Location"] == f"{origin}/dashboard/"
    direct = requests.get(f"{stack.base}/", allow_redirects=False, timeout=5)
    assert direct.status_code == 301 and direct.headers["Location"].startswith("https://")
    home = requests.get(f"{origin}/", verify=ca, timeout=5)
    assert home.status_code == 200 and not home.history
    assert home.headers["Strict-Transport-Security"].startswith("max-age=31536000")

    # The control: the same name over plain http (daphne's health page, which it serves over
    # http) is no secure context, and a page there has no microphone to ask for.
    plain = browser.new_context().new_page()
    plain.goto(f"http://{HOST}:{web_port}/healthz")
    assert secure_context(plain) == {"protocol": "http:", "secure": False, "microphone": "undefined"}
    plain.context.close()

    # The host signs in and goes live over https (a form post: secure cookies, CSRF on the https origin).
    UserFactory(username="host")
    host = browser.new_context(viewport=DESKTOP).new_page()
    host_sockets = watch_websockets(host)
    sign_in(host, origin, "host")
    assert host.url.startswith(f"{origin}/")
    host.fill("#id_start-title", "Over HTTPS")
    # Going live puts the host on stage: the room's page joins by itself (no Listen to press).
    is_join = lambda r: r.url.startswith(f"{origin}/api/spaces/") and r.url.endswith("/join/")  # noqa: E731
    with host.expect_response(is_join, timeout=20000) as joined:
        host.click("button[name=start]")
        host.wait_for_url(f"{origin}/s/**")
    space = Space.objects.get(title="Over HTTPS")
    assert secure_context(host) == {"protocol": "https:", "secure": True, "microphone": "function"}
    share_url = host.get_attribute("#room", "data-share-url")
    assert share_url == f"{origin}/s/{space.code}/"
    # The sign-in was the client's, through Caddy: its real address.
    assert list(AccessLog.objects.filter(username="host").values_list("ip_address", flat=True)) == ["127.0.0.1"]

    # The credentials name Janus behind Caddy, and the page publishes its microphone (which
    # exists because the page is https).
    assert joined.value.url == f"{origin}/api/spaces/{space.code}/join/"
    creds = joined.value.json()["media"]
    assert creds["kind"] == "speaker" and creds["server"] == janus_url
    host.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)

    # A signed-out listener on the share link hears the host.
    listener = browser.new_context(viewport=DESKTOP).new_page()
    listener_sockets = watch_websockets(listener)
    listener.goto(share_url)
    with listener.expect_response(lambda r: r.url == f"{origin}/api/spaces/{space.code}/join/") as joined:
        listener.click("#listen")
    creds = joined.value.json()["media"]
    assert creds["kind"] == "listener" and creds["server"] == janus_url
    listener.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    assert hears(listener, timeout=20), "the listener never heard the host over https"
    # Janus's talking events reach the listener's page over the room's websocket.
    listener.wait_for_selector("#stage .person.speaking", timeout=10000)
    assert listener.is_hidden("#offline")

    # Both pages' websockets went to the https origin and nowhere else: the room's at /ws/ (its
    # frames arrived), Janus's at /janus (its session was created through Caddy).
    room_ws = f"wss://{HOST}:{front_door.https_port}/ws/spaces/{space.code}/"
    for sockets in (host_sockets, listener_sockets):
        # (A signed-out listener's room socket carries the share page's ticket as its query.)
        assert {ws.url.split("?")[0] for ws in sockets} == {room_ws, janus_url}, [ws.url for ws in sockets]
        room = [ws for ws in sockets if ws.url.split("?")[0] == room_ws]
        assert any('"snapshot"' in str(frame) for ws in room for frame in ws.received), room
        janus = [ws for ws in sockets if ws.url == janus_url]
        assert any('"janus":"success"' in str(frame) for ws in janus for frame in ws.received), janus

    ARTIFACTS.mkdir(exist_ok=True)
    host.screenshot(path=str(ARTIFACTS / "https-host.png"), full_page=True)
    listener.screenshot(path=str(ARTIFACTS / "https-listener.png"), full_page=True)

    # A client's own X-Forwarded-For does not reach the app as its address: Caddy replaces it.
    session = requests.Session()
    session.get(f"{origin}/accounts/login/", verify=ca, timeout=5).raise_for_status()
    failed = session.post(
        f"{origin}/accounts/login/",
        data={"username": "host", "password": "not it", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"X-Forwarded-For": "203.0.113.66", "Referer": f"{origin}/accounts/login/"},
        verify=ca, timeout=5,
    )
    assert failed.status_code == 200 and "id_password" in failed.text
    assert list(AccessAttempt.objects.filter(username="host").values_list("ip_address", flat=True)) == ["127.0.0.1"]
