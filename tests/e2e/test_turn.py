"""A listener whose network lets nothing through but TURN hears the Space, through coturn, with the
credentials the app gave it; with credentials coturn does not accept, it hears nothing.

The listener's Chromium runs in a network namespace of its own, linked to this one by a veth pair
(as a browser behind a strict firewall would be): the only address it can reach is this side of
the veth, where coturn listens (``TURN_HOST``). Janus's media address (this machine's own, its
``JANUS_PUBLIC_IP``) has no route from there, and Janus gathers no candidate on the veth
(``JANUS_ICE_ENFORCE_LIST``), so audio can only come through a relay. The page and Janus's
websocket are not media: they reach the namespace's loopback through Unix sockets (socat), so the
page is the same ``http://127.0.0.1:<port>`` the app serves everywhere else.

coturn runs with the configuration ``deploy/install`` renders from deploy/coturn/turnserver.conf
for this machine's address (every peer refused but Janus's address; loopback refused too: nothing
here needs it), plus what a test needs: clients on the veth only, relays from the address Janus is
on, and a verbose log in a file to read.

Runs as root (``ip netns``, veth), with real Janus, daphne, Celery worker (the ``stack`` fixture),
coturn and Debian's Chromium.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from rooms.media import janus as media
from rooms.media import listener_holder
from rooms.models import Space
from tests.conftest import require
from tests.factories import UserFactory
from tests.processes import ROOT, Process, free_port, wait_for

from .conftest import CHROMIUM, CHROMIUM_ARGS, audio_level, janus_handles, sign_in
from .test_media_network import namespace  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SILENCE = 0.003
SOUND = 0.01


def this_machines_address() -> str:
    """This machine's IPv4 address on its default route: where Janus's media is."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return ""
        return probe.getsockname()[0]


@pytest.fixture
def address() -> str:
    found = this_machines_address()
    require(bool(found) and not found.startswith("127."), "a non-loopback IPv4 address (a default route) is needed")
    return found


@pytest.fixture
def coturn(request, tmp_path, namespace, address):  # noqa: F811 (the fixture imported above)
    """coturn with the install's configuration on free ports, clients on the veth's host side.
    ``coturn.secret`` is its static-auth-secret; parametrize with "wrong" to give the app another."""
    require(shutil.which("turnserver") is not None, "coturn is not installed (deploy/install-system-deps)")
    _, host_ip, _ = namespace
    # Relay ports apart from the stack's Janus (30000-49999) and the other coturn tests'.
    port, relay_base = free_port(), 52000 + (os.getpid() % 20) * 100
    root = tmp_path / "turn"
    rendered = subprocess.run(
        [str(ROOT / "deploy" / "install"), "--root", str(root), "--render-only", "--public-ip", address,
         "--set", "TURN_TLS_PORT=0", "--set", f"TURN_PORT={port}", "--set", f"TURN_HOST={host_ip}",
         "--set", f"TURN_MIN_PORT={relay_base}", "--set", f"TURN_MAX_PORT={relay_base + 99}", "turn.example.org"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    secret = re.search(r"^TURN_SECRET=(\S+)$", (root / "etc" / "spaces" / "spaces.env").read_text(), re.M).group(1)
    conf = root / "etc" / "turnserver.conf"
    production = conf.read_text()
    assert f"allowed-peer-ip={address}" in production and "denied-peer-ip=0.0.0.0-255.255.255.255" in production
    assert "\nallow-loopback-peers\n" not in production
    # syslog would take the log away from the file this test reads.
    conf.write_text(
        production.replace("\nsyslog\n", "\n")
        + "\n# The test's: clients on the veth only, relays from Janus's address, a log to read.\n"
        + f"listening-ip={host_ip}\nrelay-ip={address}\nverbose\nsimple-log\n"
    )
    log = tmp_path / "turn.log"
    process = Process(
        ["turnserver", "-c", str(conf), "--pidfile", str(tmp_path / "turn.pid"), "--db", str(tmp_path / "turndb"),
         "--log-file", str(log)],
        dict(os.environ), tmp_path / "turnserver.out",
    )
    request.addfinalizer(process.stop)
    assert wait_for(lambda: socket.create_connection((host_ip, port), timeout=1).close() or True, timeout=15), process.tail()
    given = secret if getattr(request, "param", "right") == "right" else "not-" + secret
    return type("Coturn", (), {
        "host": host_ip, "port": port, "secret": secret, "given": given, "log": log,
        "relay_ports": range(relay_base, relay_base + 100),
    })


@pytest.fixture
def stack_env(coturn, address) -> dict[str, str]:
    """The app's TURN settings, and Janus on this machine's address only (not on the veth)."""
    return {
        "TURN_HOST": coturn.host, "TURN_PORT": str(coturn.port), "TURN_TLS_PORT": "0", "TURN_SECRET": coturn.given,
        "JANUS_PUBLIC_IP": address, "JANUS_ICE_ENFORCE_LIST": address,
    }


@pytest.fixture
def fenced_browser(stack, namespace, tone, browser):  # noqa: F811
    """Chromium inside the namespace, the app and Janus's websocket on its loopback (over Unix
    sockets). Launched by the same Playwright as ``browser`` (one per thread)."""
    require(shutil.which("socat") is not None, "socat is needed to bring the app into the namespace")
    ns, _, _ = namespace
    sockets = Path(tempfile.mkdtemp(prefix="spaces-turn-"))  # short: a Unix socket's path is at most 107 bytes
    bridges = []
    for port in (int(stack.env["SPACES_PORT"]), int(stack.env["JANUS_WS_PORT"])):
        path = sockets / f"{port}.sock"
        bridges.append(Process(["socat", f"UNIX-LISTEN:{path},fork", f"TCP:127.0.0.1:{port}"], dict(os.environ),
                               stack.tmp / f"socat-{port}-host.log"))
        assert wait_for(path.exists, timeout=5)
        bridges.append(Process(["ip", "netns", "exec", ns, "socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr",
                                f"UNIX-CONNECT:{path}"], dict(os.environ), stack.tmp / f"socat-{port}-ns.log"))
    launcher = stack.tmp / "chromium-in-namespace"
    launcher.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
    launcher.chmod(0o755)
    try:
        chromium = browser.browser_type.launch(
            executable_path=str(launcher), args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={tone}"]
        )
        yield chromium
        chromium.close()
    finally:
        for bridge in bridges:
            bridge.stop(signal.SIGTERM)
        shutil.rmtree(sockets, ignore_errors=True)


def unreachable_from(ns: str, address: str) -> bool:
    """Nothing in the namespace can send to ``address`` (no route)."""
    probe = "import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n" \
            "    s.sendto(b'x', (sys.argv[1], 9))\nexcept OSError as e:\n    print(e.errno)\nelse:\n    print(0)"
    done = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", probe, address], capture_output=True, text=True,
                          timeout=10, check=True)
    return done.stdout.strip() not in ("", "0")


def start_speaking(stack, browser, username: str) -> Space:
    """A host starts a Space and goes on stage from their page: the fake microphone's tone is in the mix."""
    host = UserFactory(username=username)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {Token.objects.get_or_create(user=host)[0].key}"
    created = api.post(f"{stack.base}/api/spaces/", json={"title": "Behind a firewall"})
    assert created.status_code == 201, created.text
    space = Space.objects.get(code=created.json()["code"])
    page = browser.new_context().new_page()
    sign_in(page, stack.base, username)
    page.goto(f"{stack.base}/s/{space.code}/")  # on stage by itself: hosts never press Listen
    page.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=20000)
    return space


def press_listen(browser, stack, space: Space):
    page = browser.new_context().new_page()
    page.goto(f"{stack.base}/s/{space.code}/")
    page.click("#listen")
    return page


def selected_pair(holder: str) -> str | None:
    """Janus's selected ICE pair for the PeerConnection of the handle opened by ``holder``."""
    for _, _, info in janus_handles():
        if media.token_holder(info.get("token") or "") == holder:
            return info.get("webrtc", {}).get("ice", {}).get("selected-pair")
    return None


def signed_out_listener(stack, space) -> str | None:
    """The participant id of the Space's signed-out listener (kept in the stack's Redis, not a
    row), as the participants API lists them."""
    people = requests.get(f"{stack.base}/api/spaces/{space.code}/participants/", timeout=5).json()
    return next((p["id"] for p in people if not p["signed_in"] and p["role"] == "listener"), None)


def test_a_listener_who_can_reach_only_turn_hears_the_speaker_through_coturn(stack, coturn, fenced_browser, browser, address, namespace):  # noqa: F811
    ns, _, _ = namespace
    assert unreachable_from(ns, address), "the namespace can send to Janus's address: the test proves nothing"
    space = start_speaking(stack, browser, "turnhost")

    listener = press_listen(fenced_browser, stack, space)
    listener.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    heard = wait_for(lambda: (level := audio_level(listener)) > SOUND and level, timeout=30, interval=0.2)
    assert heard, f"the fenced listener never heard the speaker\n{coturn.log.read_text()[-3000:]}"

    # coturn made a relay for this listener, under the holder the app signed.
    holder = listener_holder(signed_out_listener(stack, space))
    allocated = re.compile(rf"user <(\d+):{holder}>: incoming packet ALLOCATE processed, success")
    stamps = [int(m.group(1)) for m in allocated.finditer(coturn.log.read_text())]
    assert stamps, coturn.log.read_text()[-3000:]
    assert all(time.time() < stamp <= time.time() + 3600 + 60 for stamp in stamps), stamps  # TURN_TTL's default ahead
    # And Janus receives the listener from coturn's relay: the other end of its pair is a relay port.
    # ("192.0.2.2:30012 [host,udp] <-> 192.0.2.2:52011 [relay,udp]")
    pair = selected_pair(holder)
    remote = re.search(rf"<-> {re.escape(address)}:(\d+) \[relay,udp\]", pair or "")
    assert remote and int(remote.group(1)) in coturn.relay_ports, pair


@pytest.mark.parametrize("coturn", ["wrong"], indirect=True)
def test_with_credentials_coturn_refuses_the_fenced_listener_hears_nothing(stack, coturn, fenced_browser, browser, address, namespace):  # noqa: F811
    ns, _, _ = namespace
    assert unreachable_from(ns, address)
    space = start_speaking(stack, browser, "turnhost2")

    listener = press_listen(fenced_browser, stack, space)
    holder_seen = wait_for(lambda: signed_out_listener(stack, space), timeout=10)
    assert holder_seen
    holder = listener_holder(holder_seen)
    # The page reaches Janus (signalling is not media) and gets the mix's track, but no path for it.
    listener.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    # The relayed listener of the test above hears within a few seconds; ten of silence is a refusal.
    deadline = time.monotonic() + 10
    loudest = 0.0
    while time.monotonic() < deadline:
        loudest = max(loudest, audio_level(listener))
    assert loudest < SILENCE, f"heard {loudest} without a relay"
    log = coturn.log.read_text()
    assert re.search(rf"user <\d+:{holder}>: incoming packet message processed, error 401", log) or \
        re.search(rf"credentials of user <\d+:{holder}>", log), log[-3000:]
    assert not re.search(rf"user <\d+:{holder}>: incoming packet ALLOCATE processed, success", log)
