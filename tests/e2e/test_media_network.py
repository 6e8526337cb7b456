"""UDP sent to a mountpoint from another network namespace is not heard.

A live Space's Streaming mountpoint takes the room's mix, ``rtp_forward``-ed over UDP on the
loopback. Whoever else can reach that port can put audio in front of every listener. Here a
second network namespace, joined to this one by a veth pair (as a container or another machine on
the LAN would be), sends well-formed RTP to the mountpoint's port on this side's veth address:
Janus must not receive a packet of it. The same burst sent over the loopback is received (the
positive control: the measurement can see an injection).

Why this failed before: mountpoints were created with a fixed port derived from the Space's id
(``FORWARD_PORT_BASE + 2 * (id % 1000)``) and no ``iface``, so Janus bound them to every address
(0.0.0.0; Janus 1.1.2 in fact opens a dual-stack ``[::]`` socket, which takes IPv4 too): the port
was guessable, and the burst from the namespace reached the mountpoint, and every listener.
Now Janus picks the port (port 0) in its streaming ``rtp_port_range`` and binds it to
``FORWARD_IFACE`` (127.0.0.1).

Runs as root (``ip netns``, veth); real Janus, daphne and Celery worker (the ``stack`` fixture).
"""

import os
import random
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from rest_framework.authtoken.models import Token

from rooms.media import MediaError
from rooms.media import janus as media
from rooms.models import Space
from tests.conftest import require
from tests.factories import UserFactory
from tests.processes import wait_for


pytestmark = [pytest.mark.integration]

# Sends `count` RTP packets (version 2, PT 111 = Opus, increasing seq/timestamp, 40 bytes of
# payload) to argv[1]:argv[2], 20 ms apart, as a speaker's client would; prints how many went out.
RTP_BURST = """
import socket, struct, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ssrc, sent = 0x5EED5EED, 0
for seq in range(count):
    header = struct.pack("!BBHII", 0x80, 111, 1000 + seq, 960 * seq, ssrc)
    try:
        sock.sendto(header + bytes(range(40)), (host, port))
        sent += 1
    except OSError:
        pass
    time.sleep(0.02)
print(sent)
"""
BURST_PACKETS = 50  # about one second


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


@pytest.fixture
def namespace(request):
    """A network namespace linked to this one by a veth pair: this side 10.231.x.y+1/30, the
    namespace's side +2. Gives (namespace, this side's address, this side's interface); both are
    deleted after the test, whatever its outcome."""
    require(shutil.which("ip") is not None, "iproute2 (ip) is needed for network namespaces")
    require(os.geteuid() == 0, "making network namespaces and veth pairs needs root")
    tag = secrets.token_hex(3)
    name, outer, inner = f"spaces-mn-{tag}", f"vmn{tag}h", f"vmn{tag}n"
    used = run("ip", "-o", "-4", "addr", "show").stdout
    while True:
        block = random.randrange(0, 256 * 64)
        prefix, first = f"10.231.{block // 64}.", (block % 64) * 4
        if f"{prefix}{first + 1}/" not in used and f"{prefix}{first + 2}/" not in used:
            break
    host_ip, ns_ip = f"{prefix}{first + 1}", f"{prefix}{first + 2}"

    def cleanup():
        run("ip", "link", "del", outer, check=False)  # takes its peer along
        run("ip", "netns", "del", name, check=False)

    request.addfinalizer(cleanup)
    run("ip", "netns", "add", name)
    run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
    run("ip", "link", "set", inner, "netns", name)
    run("ip", "addr", "add", f"{host_ip}/30", "dev", outer)
    run("ip", "link", "set", outer, "up")
    run("ip", "netns", "exec", name, "ip", "addr", "add", f"{ns_ip}/30", "dev", inner)
    run("ip", "netns", "exec", name, "ip", "link", "set", inner, "up")
    run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
    return name, host_ip, outer


def mountpoint_info(room_id: int) -> dict:
    with media.plugin(media.STREAMING) as streaming:
        return streaming.message({"request": "info", "id": room_id, "secret": media.room_secret(room_id)})["info"]


def age_ms(room_id: int) -> int | None:
    """Milliseconds since the mountpoint last received a packet; None if it never has."""
    return mountpoint_info(room_id)["media"][0].get("age_ms")


def burst(host: str, port: int, namespace: str | None = None) -> int:
    command = [sys.executable, "-c", RTP_BURST, host, str(port), str(BURST_PACKETS)]
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    return int(run(*command).stdout.strip())


def udp_sockets(port: int) -> list[tuple[str, str]]:
    """(file, local address) of every UDP socket on ``port``, from /proc/net/udp and udp6."""
    found = []
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            address, _, hex_port = line.split()[1].partition(":")
            if int(hex_port, 16) == port:
                found.append((table, address))
    return found


def rx_packets(interface: str) -> int:
    return int(Path(f"/sys/class/net/{interface}/statistics/rx_packets").read_text())


def test_udp_from_another_namespace_does_not_reach_the_mountpoint(stack, namespace):
    ns, host_ip, outer = namespace
    host = UserFactory(username="netcheck")
    api = requests.Session()
    api.headers["Authorization"] = f"Token {Token.objects.get_or_create(user=host)[0].key}"
    created = api.post(f"{stack.base}/api/spaces/", json={"title": "Network check"})
    assert created.status_code == 201, created.text
    room = Space.objects.get(code=created.json()["code"]).media_room_id
    assert room

    # The worker makes the room and its mountpoint once the start commits.
    def mounted():
        try:
            return mountpoint_info(room)
        except MediaError:
            return None

    info = wait_for(mounted, timeout=20)
    assert info, stack.janus.tail()
    port = info["media"][0]["port"]
    first, count = media.config()["FORWARD_PORT_BASE"], media.config()["FORWARD_PORT_COUNT"]
    assert first <= port < first + count, f"port {port} is outside Janus's streaming range"

    # The mountpoint's socket listens on the loopback only (0100007F is 127.0.0.1), in no IPv6 table.
    sockets = udp_sockets(port)
    assert sockets and all(s == ("udp", "0100007F") for s in sockets), f"port {port}: {sockets}"

    # Nobody is in the AudioBridge: the mix is not forwarded, the mountpoint receives nothing.
    before = age_ms(room)
    rx_before = rx_packets(outer)
    started = time.monotonic()
    assert burst(host_ip, port, namespace=ns) == BURST_PACKETS
    elapsed_ms = (time.monotonic() - started) * 1000
    # The packets did arrive on this side of the veth pair...
    assert rx_packets(outer) - rx_before >= BURST_PACKETS
    # ...and none reached the mountpoint: its last packet is as old as before, or it never had one.
    after = age_ms(room)
    if before is None:
        assert after is None, f"the mountpoint received a packet {after} ms ago"
    else:
        assert after is not None and after >= before + elapsed_ms / 2, f"age_ms went from {before} to {after}"

    # Positive control: the same burst over the loopback is received at once.
    assert burst("127.0.0.1", port) == BURST_PACKETS
    heard = age_ms(room)
    assert heard is not None and heard < 500, f"the loopback burst was not received (age_ms {heard})"

    # And once it has a last packet to age from, the namespace's burst still does not refresh it.
    time.sleep(1)
    before = age_ms(room)
    assert before is not None and before >= 900
    assert burst(host_ip, port, namespace=ns) == BURST_PACKETS
    after = age_ms(room)
    assert after is not None and after >= before + 500, f"age_ms went from {before} to {after}"
