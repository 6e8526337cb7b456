"""Janus's configuration (manage.py janus_config, deploy/janus/*.jcfg): private files, the
transports on the addresses the settings name, the admin API behind its secret, mountpoint ports
in their own range; and the real Janus starts with it."""

import base64
import hashlib
import hmac
import io
import secrets
import os
import shutil
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from tests.conftest import require
from tests.processes import Process, free_port, wait_for

SECRETS = {
    "ADMIN_KEY": "plugin-admin-key", "ADMIN_SECRET": "admin-api-secret", "ROOM_SECRET": "room-secret",
    "TOKEN_SECRET": "token-secret", "EVENTS_SECRET": "events-secret",
}


def parse(text: str) -> dict:
    """A .jcfg file as {section: {key: value}} (the flat subset these templates use)."""
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            current = sections.setdefault(line.split(":")[0].strip(), {})
        elif line != "}":
            key, value = (part.strip() for part in line.split("=", 1))
            current[key] = value.strip('"')
    return sections


@pytest.fixture
def janus_settings(settings):
    """Settings with this test's secrets; the transports on ports nobody else uses."""
    rtp = 42000 + (os.getpid() % 50) * 100
    admin_port = free_port()
    settings.JANUS = {
        **settings.JANUS, **SECRETS,
        "HTTP_PORT": free_port(), "WS_PORT": free_port(), "ADMIN_PORT": admin_port,
        "URL": None, "ADMIN_URL": f"http://127.0.0.1:{admin_port}/admin",
        "HTTP_BIND": "127.0.0.1", "WS_BIND": "0.0.0.0",
        "RTP_RANGE": f"{rtp}-{rtp + 49}", "FORWARD_PORT_BASE": rtp + 50, "FORWARD_PORT_COUNT": 50,
    }
    settings.JANUS["URL"] = f"http://127.0.0.1:{settings.JANUS['HTTP_PORT']}/janus"
    return settings.JANUS


def render(folder: Path) -> dict:
    call_command("janus_config", out=str(folder), stdout=io.StringIO())
    return {path.name: parse(path.read_text()) for path in folder.glob("*.jcfg")}


def test_the_files_and_their_folder_are_readable_by_their_owner_only(janus_settings, tmp_path):
    folder = tmp_path / "janus"
    old = os.umask(0)  # what a file gets by default must not matter
    try:
        render(folder)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert {stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()} == {0o600}
        # Files from an older, more open render are closed again.
        folder.chmod(0o755)
        (folder / "janus.jcfg").chmod(0o644)
        render(folder)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()} == {0o600}
    assert "admin-api-secret" in (folder / "janus.jcfg").read_text()


def test_the_settings_are_where_janus_reads_them(janus_settings, tmp_path):
    config = render(tmp_path / "janus")
    janus, http = config["janus.jcfg"], config["janus.transport.http.jcfg"]
    # The admin API's secret is its own, not the plugins' admin key.
    assert janus["general"]["admin_secret"] == "admin-api-secret"
    assert janus["general"]["token_auth_secret"] == "token-secret"
    assert http["general"]["ip"] == "127.0.0.1" and http["general"]["port"] == str(janus_settings["HTTP_PORT"])
    assert http["admin"] == {
        "admin_base_path": "/admin", "admin_http": "true", "admin_port": str(janus_settings["ADMIN_PORT"]),
        "admin_ip": "127.0.0.1", "admin_https": "false",
    }
    websockets = config["janus.transport.websockets.jcfg"]["general"]
    assert websockets["ws_ip"] == "0.0.0.0" and websockets["ws_port"] == str(janus_settings["WS_PORT"])
    streaming = config["janus.plugin.streaming.jcfg"]["general"]
    base = janus_settings["FORWARD_PORT_BASE"]
    assert streaming["rtp_port_range"] == f"{base}-{base + 49}"
    assert streaming["events"] == "false" and streaming["admin_key"] == "plugin-admin-key"
    audiobridge = config["janus.plugin.audiobridge.jcfg"]["general"]
    assert audiobridge["events"] == "true" and audiobridge["admin_key"] == "plugin-admin-key"
    evh = config["janus.eventhandler.sampleevh.jcfg"]["general"]
    assert evh["backend"] == janus_settings["EVENTS_URL"] and evh["backend_pwd"] == "events-secret"


def listening(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not os.path.exists(table):
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            words = [int(address[i:i + 8], 16) for i in range(0, len(address), 8)]
            found.add(socket.inet_ntop(family, b"".join(struct.pack("=I", word) for word in words)))
    return found


def token(plugin: str, secret: str) -> str:
    body = f"{int(time.time()) + 60},janus,{plugin}"
    return f"{body}:{base64.b64encode(hmac.new(secret.encode(), body.encode(), hashlib.sha1).digest()).decode()}"


@pytest.fixture
def janus(janus_settings, tmp_path):
    require(shutil.which("janus") is not None, "Janus (Debian package janus) is needed")
    folder = tmp_path / "janus"
    render(folder)
    process = Process(["janus", "-C", str(folder / "janus.jcfg"), "-F", str(folder)], os.environ.copy(), tmp_path / "janus.log")
    info = {"janus": "info", "transaction": "info"}
    try:
        assert wait_for(lambda: requests.post(janus_settings["URL"], json=info, timeout=1).ok, timeout=20), process.tail()
        assert wait_for(lambda: listening(janus_settings["WS_PORT"]), timeout=10), process.tail()
        yield janus_settings
    finally:
        process.stop()


def test_janus_runs_with_the_config_its_apis_where_they_belong(janus):
    # The app's API and the admin API on loopback only, the browsers' websocket on WS_BIND.
    assert listening(janus["HTTP_PORT"]) == {"127.0.0.1"}
    assert listening(janus["ADMIN_PORT"]) == {"127.0.0.1"}
    assert listening(janus["WS_PORT"]) == {"0.0.0.0"}
    with socket.create_connection(("127.0.0.1", janus["WS_PORT"]), timeout=2):
        pass

    def admin(body: dict) -> dict:
        return requests.post(janus["ADMIN_URL"], json={"transaction": "t", **body}, timeout=5).json()

    assert admin({"janus": "ping", "admin_secret": "admin-api-secret"})["janus"] == "pong"
    # Janus answers ping and info to anyone; every other admin request needs the secret.
    assert admin({"janus": "list_sessions", "admin_secret": "admin-api-secret"})["janus"] == "success"
    for refused in ({}, {"admin_secret": "wrong"}, {"admin_secret": "plugin-admin-key"}):
        reply = admin({"janus": "list_sessions", **refused})
        assert reply["janus"] == "error" and reply["error"]["code"] == 403, reply


def test_janus_runs_without_a_transport_wide_cc_timer_per_connection(janus):
    # At 1000 ms the feedback (only ever sent for video Janus receives) rides the RTCP timer and
    # no PeerConnection gets a timer of its own: about 16 % of a listener's cost (docs/BENCHMARKS.md).
    info = requests.post(janus["URL"], json={"janus": "info", "transaction": "t"}, timeout=5).json()
    assert info["twcc-period"] == 1000


def test_the_run_script_puts_the_chosen_libsrtp_first(tmp_path):
    """JANUS_LIBSRTP_DIR (a libsrtp2 built on OpenSSL) comes first on Janus's library path; unset,
    Janus gets the library path it was given."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "janus").write_text('#!/bin/sh\necho "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"\n')
    (fake / "janus").chmod(0o755)
    run = Path(__file__).resolve().parent.parent / "deploy" / "janus" / "run"
    base = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "JANUS_CONFIG_DIR": str(tmp_path / "janus"),
            "LD_LIBRARY_PATH": "/opt/other"}
    chosen = subprocess.run([str(run)], env={**base, "JANUS_LIBSRTP_DIR": "/opt/libsrtp-openssl"},
                            capture_output=True, text=True, check=True, timeout=60).stdout
    assert chosen.splitlines()[-1] == "LD_LIBRARY_PATH=/opt/libsrtp-openssl:/opt/other"
    unset = subprocess.run([str(run)], env=base, capture_output=True, text=True, check=True, timeout=60).stdout
    assert unset.splitlines()[-1] == "LD_LIBRARY_PATH=/opt/other"


def test_mountpoints_made_with_port_0_get_a_port_in_the_forward_range(janus):
    plugin = "janus.plugin.streaming"

    def post(path: str, body: dict) -> dict:
        payload = {"transaction": "t", "token": token(plugin, "token-secret"), **body}
        return requests.post(janus["URL"] + path, json=payload, timeout=5).json()

    session = post("", {"janus": "create"})["data"]["id"]
    handle = post(f"/{session}", {"janus": "attach", "plugin": plugin})["data"]["id"]
    base = janus["FORWARD_PORT_BASE"]
    ports = set()
    for mountpoint in (901, 902):
        reply = post(f"/{session}/{handle}", {"janus": "message", "body": {
            "request": "create", "type": "rtp", "id": mountpoint, "admin_key": "plugin-admin-key",
            "media": [{"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus", "iface": "127.0.0.1"}],
        }})
        data = reply["plugindata"]["data"]
        assert data.get("streaming") == "created", data
        ports |= {media["port"] for media in data["stream"]["ports"]}
    assert len(ports) == 2 and all(base <= port < base + 50 for port in ports), ports


def test_a_rooms_mix_goes_to_the_packer_with_its_mountpoints_port_in_the_ssrc(janus, settings):
    """With listeners' packets of 60 ms the room forwards to the node's packer, the SSRC naming the
    mountpoint's port (rooms.media.packer); with 20, straight to the mountpoint. Switching is a
    repair like any other: the next room_open (the reconcile) replaces the forward, and a
    mountpoint on a new port gets a forward with the new SSRC."""
    from rooms.media import janus as media
    from rooms.media import packer

    settings.SPACES_MEDIA_FORWARDS = []  # no captions forward to ask about
    server, room = media.JanusMediaServer(), 1 + secrets.randbelow(2**52 - 1)

    def forwards() -> list[tuple]:
        with media.plugin(media.AUDIOBRIDGE) as bridge:
            listing = bridge.message(media._secret({"request": "listforwarders", "room": room}, room))
        return sorted((f["ip"], f["port"], f["ssrc"]) for f in listing["rtp_forwarders"])

    def mountpoint_port() -> int:
        with media.plugin(media.STREAMING) as streaming:
            return server._mountpoint_info(streaming, room)["media"][0]["port"]

    try:
        settings.JANUS["LISTENER_PACKET_MS"], settings.JANUS["PACKER_PORT"] = 60, 21999
        server.room_open(room_id=room, allowed=[], pin="pin-1")
        port = mountpoint_port()
        assert forwards() == [("127.0.0.1", 21999, packer.ssrc_for(room, port))]
        server.room_open(room_id=room, allowed=[], pin="pin-1")  # the reconcile: nothing changes
        assert forwards() == [("127.0.0.1", 21999, packer.ssrc_for(room, port))]

        settings.JANUS["LISTENER_PACKET_MS"] = 20
        server.room_open(room_id=room, allowed=[], pin="pin-1")
        assert [f[:2] for f in forwards()] == [("127.0.0.1", port)]

        # The mountpoint gone (a Janus restart loses it too) and made again on another port.
        settings.JANUS["LISTENER_PACKET_MS"] = 60
        with media.plugin(media.STREAMING) as streaming:
            blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # keeps the old port taken
            streaming.message({"request": "destroy", "id": room, "secret": media.room_secret(room)})
            blocker.bind(("127.0.0.1", port))
        with blocker:
            server.room_open(room_id=room, allowed=[], pin="pin-1")
            moved = mountpoint_port()
        assert moved != port
        assert forwards() == [("127.0.0.1", 21999, packer.ssrc_for(room, moved))]
    finally:
        server.room_close(room_id=room)
