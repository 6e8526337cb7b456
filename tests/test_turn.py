"""TURN credentials (``rooms.media.turn``) and the settings around them: coturn's use-auth-secret
format, checked here with an HMAC computed independently; the expiry TURN_TTL ahead; the URLs the
settings make; nothing without a TURN_HOST; a TURN_HOST without its secret refused at start; and
Janus's ``nat`` section rendered from JANUS_PUBLIC_IP and JANUS_ICE_ENFORCE_LIST.

tests/e2e/test_turn.py has a browser that can reach nothing but coturn hear a Space through it."""

import base64
import hashlib
import hmac
import io
import json

import pytest
from django.core.management import call_command

from rooms.media import turn

from .test_janus_config import parse
from .test_project import manage, production

NOW = 1_800_000_000


@pytest.fixture
def turn_settings(settings, monkeypatch):
    monkeypatch.setattr(turn.time, "time", lambda: NOW + 0.7)
    settings.TURN = {"HOST": "turn.example.org", "SECRET": "s3cret", "PORT": 3478, "TLS_PORT": 5349, "TTL": 3600}
    return settings.TURN


def test_a_credential_is_coturns_rest_scheme_signed_with_the_secret(turn_settings):
    [server] = turn.ice_servers("listener-42")
    assert set(server) == {"urls", "username", "credential"}
    # "<expiry>:<holder>", the expiry TURN_TTL seconds from now (whole seconds).
    assert server["username"] == f"{NOW + 3600}:listener-42"
    expected = hmac.new(b"s3cret", f"{NOW + 3600}:listener-42".encode(), hashlib.sha1).digest()
    assert base64.b64decode(server["credential"], validate=True) == expected
    # Another secret, holder or expiry signs differently.
    assert server["credential"] != turn.sign(server["username"], "other")
    assert server["credential"] != turn.sign(f"{NOW + 3600}:listener-43", "s3cret")
    assert server["credential"] != turn.sign(f"{NOW + 7200}:listener-42", "s3cret")


def test_the_expiry_follows_ttl(turn_settings, settings):
    settings.TURN = {**turn_settings, "TTL": 60}
    assert turn.ice_servers("speaker-7")[0]["username"] == f"{NOW + 60}:speaker-7"


def test_urls_udp_tcp_and_tls_unless_its_port_is_0(turn_settings, settings):
    assert turn.ice_servers("listener-1")[0]["urls"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turn:turn.example.org:3478?transport=tcp",
        "turns:turn.example.org:5349?transport=tcp",
    ]
    settings.TURN = {**turn_settings, "HOST": "2001:db8::1", "PORT": 3479, "TLS_PORT": 0}
    assert turn.ice_servers("listener-1")[0]["urls"] == [
        "turn:[2001:db8::1]:3479?transport=udp", "turn:[2001:db8::1]:3479?transport=tcp",
    ]


def test_no_turn_host_no_ice_servers(turn_settings, settings):
    settings.TURN = {**turn_settings, "HOST": ""}
    assert turn.ice_servers("listener-1") == []


PRINT_TURN = "import json; from django.conf import settings; print(json.dumps(settings.TURN))"


def test_settings_refuse_a_turn_host_without_its_secret():
    for env in (production(TURN_HOST="turn.example.org", TURN_SECRET=""),
                {"SPACES_DEBUG": "1", "TURN_HOST": "turn.example.org", "TURN_SECRET": ""}):
        result = manage("check", env=env)
        assert result.returncode != 0 and "RuntimeError" in result.stderr and "TURN_SECRET" in result.stderr, result.stderr
    result = manage("check", env=production(TURN_HOST="turn.example.org", TURN_SECRET="x", TURN_TLS_PORT="70000"))
    assert result.returncode != 0 and "TURN_TLS_PORT" in result.stderr
    # With its secret it starts, with the defaults for the rest; without TURN_HOST nothing is needed.
    result = manage("shell", "-c", PRINT_TURN, env=production(TURN_HOST="turn.example.org", TURN_SECRET="x"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "HOST": "turn.example.org", "SECRET": "x", "PORT": 3478, "TLS_PORT": 5349, "TTL": 3600,
    }
    result = manage("shell", "-c", PRINT_TURN, env=production(TURN_HOST="", TURN_SECRET="", TURN_TLS_PORT="0"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["TLS_PORT"] == 0


def test_settings_refuse_a_public_ip_that_is_not_an_address():
    result = manage("check", env=production(JANUS_PUBLIC_IP="spaces.example.org"))
    assert result.returncode != 0 and "JANUS_PUBLIC_IP" in result.stderr
    result = manage("check", env=production(JANUS_ICE_ENFORCE_LIST='eth0"'))
    assert result.returncode != 0 and "JANUS_ICE_ENFORCE_LIST" in result.stderr


def render_nat(tmp_path, settings, **janus) -> dict:
    settings.JANUS = {**settings.JANUS, **janus}
    call_command("janus_config", out=str(tmp_path / "janus"), stdout=io.StringIO())
    return parse((tmp_path / "janus" / "janus.jcfg").read_text())["nat"]


def test_janus_advertises_the_public_address_and_gathers_where_told(tmp_path, settings):
    nat = render_nat(tmp_path, settings, PUBLIC_IP=["203.0.113.7"], ICE_ENFORCE_LIST=["eth0", "10.0.0."])
    assert nat["nat_1_1_mapping"] == "203.0.113.7" and nat["ice_enforce_list"] == "eth0,10.0.0."
    # Janus itself uses no STUN or TURN server: it has a public address.
    assert not {"stun_server", "turn_server", "turn_rest_api"} & set(nat)
    nat = render_nat(tmp_path, settings, PUBLIC_IP=[], ICE_ENFORCE_LIST=[])
    assert "nat_1_1_mapping" not in nat and "ice_enforce_list" not in nat and nat["ignore_mdns"] == "true"
    # Everything on one machine (deploy/install --public-ip 127.0.0.1): no mapping to an address
    # Janus has no socket on.
    assert "nat_1_1_mapping" not in render_nat(tmp_path, settings, PUBLIC_IP=["127.0.0.1"])
