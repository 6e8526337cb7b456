"""The production install (deploy/install, docs/DEPLOY.md), run with --root into a temporary folder:
the settings file and its secrets, kept from run to run; the systemd units; Caddy's and coturn's
configuration, each checked by the program that reads it, and run: Caddy routes requests where the
docs say, coturn relays to this server and refuses private networks; and Django's deploy check is
clean with the settings the install wrote."""

import configparser
import grp
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.conftest import require
from tests.processes import ROOT, Process, free_port, wait_for

INSTALL = ROOT / "deploy" / "install"
DOMAIN = "spaces.example.org"
PUBLIC_IP = "203.0.113.7"
SECRETS = (
    "SECRET_KEY", "JANUS_ADMIN_KEY", "JANUS_ADMIN_SECRET", "JANUS_ROOM_SECRET", "JANUS_TOKEN_SECRET",
    "JANUS_EVENTS_SECRET", "TURN_SECRET",
)
UNITS = ("spaces-web.service", "spaces-worker.service", "spaces-beat.service", "spaces-janus.service",
         "spaces-captions.service", "spaces-packer.service")
SHELL_SCRIPTS = ("deploy/install", "deploy/with-env", "deploy/manage", "deploy/coturn/sync-cert", "deploy/install-system-deps")


def install(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(INSTALL), "--root", str(root), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def settings_file(root: Path) -> Path:
    return root / "etc" / "spaces" / "spaces.env"


def read_settings(root: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in settings_file(root).read_text().splitlines() if re.match(r"\w+=", line))
    return dict(pairs)


def turn_conf(root: Path) -> list[tuple[str, str]]:
    """turnserver.conf as (option, value) pairs in order; a flag has the value ""."""
    pairs = []
    for line in (root / "etc" / "turnserver.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """One installation, run twice as an upgrade would; the first run's files kept for comparison."""
    root = tmp_path_factory.mktemp("server")
    install(root, DOMAIN, "--public-ip", PUBLIC_IP)
    first = {
        path.relative_to(root): path.read_bytes()
        for path in (root / "etc").rglob("*")
        if path.is_file()
    }
    install(root, DOMAIN, "--public-ip", PUBLIC_IP)
    return root, first


def test_install_writes_every_file_private_where_it_holds_secrets(installed):
    root, _ = installed
    assert mode(settings_file(root)) == 0o600
    assert mode(root / "etc" / "spaces") == 0o700
    assert mode(root / "etc" / "turnserver.conf") == 0o640
    assert mode(root / "etc" / "redis" / "spaces.conf") == 0o640
    assert mode(root / "etc" / "coturn" / "tls") == 0o750
    assert mode(root / "etc" / "caddy" / "Caddyfile") == 0o644
    for unit in (*UNITS, "spaces.target", "spaces-turn-cert.service", "spaces-turn-cert.timer"):
        assert mode(root / "etc" / "systemd" / "system" / unit) == 0o644
    assert (root / "etc" / "systemd" / "system" / "caddy.service.d" / "spaces.conf").is_file()
    assert mode(root / "var" / "lib" / "spaces") == 0o750
    assert mode(root / "var" / "lib" / "spaces" / "media" / "recordings") == 0o750
    assert mode(root / "var" / "lib" / "spaces" / "janus") == 0o700
    assert "TURNSERVER_ENABLED=1" in (root / "etc" / "default" / "coturn").read_text().splitlines()


def test_secrets_are_generated_long_and_different(installed, tmp_path):
    root, _ = installed
    settings = read_settings(root)
    database_password = re.fullmatch(r"postgres://spaces:(\w+)@127\.0\.0\.1:5432/spaces", settings["DATABASE_URL"])[1]
    redis_password = re.fullmatch(r"redis://:(\w+)@127\.0\.0\.1:6379/0", settings["REDIS_URL"])[1]
    values = [settings[name] for name in SECRETS] + [database_password, redis_password]
    assert all(re.fullmatch(r"[0-9a-f]{40,}", value) for value in values), values
    assert len(set(values)) == len(values)
    assert len(settings["SECRET_KEY"]) >= 50
    # Another server gets its own.
    install(tmp_path, "--render-only", DOMAIN, "--public-ip", PUBLIC_IP)
    other = read_settings(tmp_path)
    assert not {other[name] for name in SECRETS} & set(values)


def test_settings_name_the_domain_the_public_address_and_production_mode(installed):
    root, _ = installed
    settings = read_settings(root)
    assert settings["SPACES_DEBUG"] == "0"
    assert settings["ALLOWED_HOSTS"] == DOMAIN
    assert settings["CSRF_TRUSTED_ORIGINS"] == settings["SITE_URL"] == f"https://{DOMAIN}"
    assert settings["SPACES_TRUSTED_PROXIES"] == "1"
    assert settings["JANUS_PUBLIC_URL"] == f"wss://{DOMAIN}/janus"
    assert settings["JANUS_PUBLIC_IP"] == PUBLIC_IP
    assert settings["TURN_HOST"] == DOMAIN
    assert settings["JANUS_CONFIG_DIR"] == "/var/lib/spaces/janus"
    assert settings["MEDIA_ROOT"] == "/var/lib/spaces/media"
    # Redis asks for the password the app is given.
    redis_password = settings["REDIS_URL"].split(":")[2].split("@")[0]
    assert f"requirepass {redis_password}" in (root / "etc" / "redis" / "spaces.conf").read_text().splitlines()


def test_a_second_run_changes_no_file(installed):
    root, first = installed
    second = {path.relative_to(root): path.read_bytes() for path in (root / "etc").rglob("*") if path.is_file()}
    assert second == first


def test_a_deleted_key_comes_back_and_nothing_else_changes(tmp_path):
    install(tmp_path, "--render-only", DOMAIN, "--public-ip", PUBLIC_IP)
    before = read_settings(tmp_path)
    lines = settings_file(tmp_path).read_text().splitlines()
    settings_file(tmp_path).write_text("\n".join(line for line in lines if not line.startswith("JANUS_ROOM_SECRET=")) + "\n")
    install(tmp_path, "--render-only")  # an upgrade needs neither the domain nor the address
    after = read_settings(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", after["JANUS_ROOM_SECRET"])
    assert after["JANUS_ROOM_SECRET"] != before["JANUS_ROOM_SECRET"]
    assert {k: v for k, v in after.items() if k != "JANUS_ROOM_SECRET"} == {
        k: v for k, v in before.items() if k != "JANUS_ROOM_SECRET"
    }
    assert mode(settings_file(tmp_path)) == 0o600


def test_edits_by_hand_survive_and_set_replaces_a_value(tmp_path):
    install(tmp_path, "--render-only", DOMAIN, "--public-ip", PUBLIC_IP)
    text = settings_file(tmp_path).read_text()
    text = text.replace(f"ALLOWED_HOSTS={DOMAIN}\n", f"ALLOWED_HOSTS={DOMAIN},www.{DOMAIN}\n")
    settings_file(tmp_path).write_text(text + "# mail\nEMAIL_HOST=smtp.example.org\n")
    install(tmp_path, "--render-only", DOMAIN, "--set", "WEB_PROCESSES=4", "--set", "JANUS_PUBLIC_IP=198.51.100.9")
    after = settings_file(tmp_path).read_text()
    assert f"ALLOWED_HOSTS={DOMAIN},www.{DOMAIN}\n" in after and "# mail\nEMAIL_HOST=smtp.example.org\n" in after
    settings = read_settings(tmp_path)
    assert settings["WEB_PROCESSES"] == "4" and settings["JANUS_PUBLIC_IP"] == "198.51.100.9"
    assert ("external-ip", "198.51.100.9") in turn_conf(tmp_path)


def test_another_domain_or_address_is_refused_not_half_applied(tmp_path):
    install(tmp_path, "--render-only", DOMAIN, "--public-ip", PUBLIC_IP)
    before = settings_file(tmp_path).read_bytes()
    moved = install(tmp_path, "--render-only", "other.example.org", check=False)
    assert moved.returncode != 0 and "SITE_URL" in moved.stderr
    readdressed = install(tmp_path, "--render-only", DOMAIN, "--public-ip", "198.51.100.9", check=False)
    assert readdressed.returncode != 0 and "--set JANUS_PUBLIC_IP=198.51.100.9" in readdressed.stderr
    assert settings_file(tmp_path).read_bytes() == before


@pytest.mark.django_db
def test_django_deploy_check_is_clean_with_the_written_settings(installed):
    """The settings file as the services read it (systemd's EnvironmentFile, here deploy/with-env),
    with only the database and Redis pointed at the test's."""
    from django.conf import settings

    from tests.processes import test_database_url

    root, _ = installed
    result = subprocess.run(
        [
            str(ROOT / "deploy" / "with-env"), str(settings_file(root)),
            "env", f"DATABASE_URL={test_database_url()}", f"REDIS_URL={settings.REDIS_URL}",
            sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_with_env_passes_values_literally(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text('# comment\n\nPLAIN=a b $HOME `x`\nQUOTED="q v"\nexport EXPORTED=1\nEMPTY=\n')
    result = subprocess.run(
        [str(ROOT / "deploy" / "with-env"), str(env_file), "env"], capture_output=True, text=True, check=True
    )
    lines = result.stdout.splitlines()
    assert "PLAIN=a b $HOME `x`" in lines and "QUOTED=q v" in lines and "EXPORTED=1" in lines and "EMPTY=" in lines


# systemd units


def parse_unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    unit.optionxform = str
    unit.read_string(path.read_text())
    return unit


def test_the_install_enables_every_unit_the_target_wants():
    """spaces.target starts only the units enabled into it (their WantedBy= symlinks), so a unit
    left out of the install's `systemctl enable` is installed and never runs (the captions worker
    was)."""
    lines = INSTALL.read_text().splitlines()
    first = next(n for n, line in enumerate(lines) if "systemctl enable --quiet spaces.target" in line)
    command = [lines[first]]
    while command[-1].endswith("\\"):
        command.append(lines[first + len(command)])
    enabled = set(" ".join(line.rstrip("\\") for line in command).split())
    wanted = {path.name for path in (ROOT / "deploy" / "systemd").glob("*.service")
              if "WantedBy=spaces.target" in path.read_text()}
    assert wanted >= set(UNITS) and wanted <= enabled, wanted - enabled


def test_units_run_as_spaces_with_the_settings_restart_and_belong_to_spaces_target(installed):
    root, _ = installed
    units = root / "etc" / "systemd" / "system"
    target = parse_unit(units / "spaces.target")
    assert target["Install"]["WantedBy"] == "multi-user.target"
    # coturn (Debian's unit) is grouped by the target and restarted when it dies, through a drop-in.
    assert "coturn.service" in target["Unit"]["Wants"].split()
    coturn = parse_unit(units / "coturn.service.d" / "spaces.conf")
    assert coturn["Unit"]["PartOf"] == "spaces.target" and coturn["Service"]["Restart"] == "on-failure"
    for name in UNITS:
        unit = parse_unit(units / name)
        assert set(unit.sections()) == {"Unit", "Service", "Install"}, name
        service = unit["Service"]
        executable = service["ExecStart"].split()[0]
        assert executable.startswith("/opt/spaces/app/"), name
        assert service["User"] == "spaces" and service["Group"] == "spaces"
        assert service["EnvironmentFile"] == "/etc/spaces/spaces.env"
        assert service["Restart"] == "on-failure" and int(service["RestartSec"]) > 0
        assert service["NoNewPrivileges"] == "true" and service["PrivateTmp"] == "true"
        assert service["ProtectSystem"] == "strict" and service["ReadWritePaths"] == "/var/lib/spaces"
        assert unit["Unit"]["PartOf"] == "spaces.target" and unit["Install"]["WantedBy"] == "spaces.target"
        assert "network-online.target" in unit["Unit"]["After"]
        if name not in ("spaces-janus.service", "spaces-packer.service"):  # neither uses the database or Redis
            assert {"postgresql.service", "redis-server.service"} <= set(unit["Unit"]["After"].split())
        # What it runs is in the code the install copies (or the virtualenv it makes there).
        relative = executable.removeprefix("/opt/spaces/app/")
        assert relative.startswith(".venv/bin/") or os.access(ROOT / relative, os.X_OK), executable
    web = parse_unit(units / "spaces-web.service")["Service"]
    # Every daphne process's metrics add up in one place, on a tmpfs systemd makes and clears.
    assert web["Environment"] == "PROMETHEUS_MULTIPROC_DIR=/run/spaces-web/metrics"
    assert web["RuntimeDirectory"] == "spaces-web"
    beat = parse_unit(units / "spaces-beat.service")["Service"]["ExecStart"]
    assert "--schedule /var/lib/spaces/celerybeat-schedule" in beat  # not in the read-only code folder
    timer = parse_unit(units / "spaces-turn-cert.timer")
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_units_pass_systemd_analyze_verify(installed):
    """systemd's own check: unknown keys, bad values, bad dependencies. The commands live in
    /opt/spaces, which this machine does not have: that complaint alone is expected."""
    require(shutil.which("systemd-analyze") is not None, "systemd-analyze is not installed")
    root, _ = installed
    units = root / "etc" / "systemd" / "system"
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(units / name) for name in (*UNITS, "spaces.target",
                                                                       "spaces-turn-cert.service", "spaces-turn-cert.timer"))],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )
    missing_command = re.compile(r"^[\w.-]+: Command /opt/spaces/app/\S+ is not executable: No such file or directory$")
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line and not missing_command.match(line)]
    assert complaints == []


# Caddy


def test_caddyfile_validates(installed):
    require(shutil.which("caddy") is not None, "caddy is not installed (deploy/install-system-deps)")
    root, _ = installed
    result = subprocess.run(
        ["caddy", "validate", "--adapter", "caddyfile", "--config", str(root / "etc" / "caddy" / "Caddyfile")],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "HOME": str(root), "XDG_DATA_HOME": str(root / "xdg"), "XDG_CONFIG_HOME": str(root / "xdg")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    caddyfile = (root / "etc" / "caddy" / "Caddyfile").read_text()
    assert f"\n{DOMAIN} {{\n" in caddyfile and "tls internal" not in caddyfile


class Upstream(BaseHTTPRequestHandler):
    """Stands in for daphne or Janus: answers every request with its name and what it was asked."""

    def do_GET(self):
        body = f"{self.server.name} {self.path} {self.headers.get('X-Forwarded-For')} {self.headers.get('X-Forwarded-Proto')}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_POST = do_GET

    def log_message(self, *args):
        pass


def upstream(name: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.name = name
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def caddy(tmp_path):
    """Caddy with the rendered Caddyfile, certificates from its own CA, on free ports, in front of
    stand-ins for daphne and Janus; MEDIA_ROOT holds one replay."""
    require(shutil.which("caddy") is not None, "caddy is not installed (deploy/install-system-deps)")
    web, janus = upstream("web"), upstream("janus")
    media = tmp_path / "media"
    (media / "recordings").mkdir(parents=True)
    (media / "recordings" / "space-abc.wav").write_bytes(b"RIFF-replay")
    http_port, https_port = free_port(), free_port()
    install(
        tmp_path / "root", "--render-only", "--tls", "internal", "--http-port", str(http_port),
        "--https-port", str(https_port), "--public-ip", "127.0.0.1",
        "--set", f"SPACES_PORT={web.server_port}", "--set", f"JANUS_WS_PORT={janus.server_port}",
        "--set", f"MEDIA_ROOT={media}", "--set", "CADDY_ADMIN=off", "localhost",
    )
    data = tmp_path / "xdg"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(data), "XDG_CONFIG_HOME": str(data)}
    process = Process(
        ["caddy", "run", "--adapter", "caddyfile", "--config", str(tmp_path / "root" / "etc" / "caddy" / "Caddyfile")],
        env, tmp_path / "caddy.log",
    )
    ca = data / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    origin = f"https://localhost:{https_port}"

    def ready():
        return ca.exists() and requests.get(f"{origin}/", verify=str(ca), timeout=2).status_code == 200

    try:
        assert wait_for(ready, timeout=30), process.tail()
        yield origin, str(ca), read_settings(tmp_path / "root")
    finally:
        process.stop()
        web.shutdown()
        janus.shutdown()


def test_caddy_sends_pages_janus_and_replays_where_they_belong(caddy):
    origin, ca, settings = caddy

    def get(path, **kwargs):
        return requests.get(f"{origin}{path}", verify=ca, timeout=5, allow_redirects=False, **kwargs)

    assert settings["SITE_URL"] == origin and settings["JANUS_PUBLIC_URL"] == f"wss://{origin.removeprefix('https://')}/janus"
    # Pages, the API, static files and websockets go to daphne, with the client's address (not a
    # forwarded header the client made up) and the scheme.
    for path in ("/", "/api/spaces/", "/static/js/room.js", "/ws/spaces/abc/", "/admin/login/"):
        assert get(path, headers={"X-Forwarded-For": "6.6.6.6"}).text == f"web {path} 127.0.0.1 https"
    # Plain http is sent to https on the port the site's URLs name (not Caddy's guess, 443).
    plain = requests.get(f"http://localhost:{settings['CADDY_HTTP_PORT']}/s/abc/?x=1", allow_redirects=False, timeout=5)
    assert plain.status_code == 308 and plain.headers["Location"] == f"{origin}/s/abc/?x=1"
    # The browsers' Janus websocket: /janus, at Janus's root.
    assert get("/janus").text.startswith("janus / ")
    # Replays come from MEDIA_ROOT as files; no listing.
    replay = get("/media/recordings/space-abc.wav")
    assert replay.status_code == 200 and replay.content == b"RIFF-replay"
    assert replay.headers["X-Content-Type-Options"] == "nosniff"
    assert get("/media/recordings/").status_code == 404 and get("/media/recordings/none.wav").status_code == 404
    # Loopback-only endpoints are not reachable from outside.
    for path in ("/media/janus-events/", "/Media/Janus-Events/", "/metrics", "/metrics/"):
        assert get(path).status_code == 404, path
    assert requests.post(f"{origin}/media/janus-events/", verify=ca, timeout=5).status_code == 404


# coturn


def test_turnserver_conf_has_what_coturn_needs(installed):
    root, _ = installed
    settings = read_settings(root)
    conf = turn_conf(root)
    options = dict(conf)
    assert options["listening-port"] == "3478" and options["tls-listening-port"] == "5349"
    assert options["cert"] == "/etc/coturn/tls/cert.pem" and options["pkey"] == "/etc/coturn/tls/key.pem"
    assert "use-auth-secret" in options and options["static-auth-secret"] == settings["TURN_SECRET"]
    assert options["realm"] == DOMAIN and options["external-ip"] == PUBLIC_IP
    assert (options["min-port"], options["max-port"]) == ("49152", "49999")
    for flag in ("no-cli", "no-multicast-peers", "no-tcp-relay", "fingerprint", "syslog", "no-dtls", "no-tlsv1"):
        assert flag in options, flag
    assert "allow-loopback-peers" not in options
    denied = {value for key, value in conf if key == "denied-peer-ip"}
    for private_range in ("10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255",
                          "127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255", "100.64.0.0-100.127.255.255",
                          "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:0.0.0.0-::ffff:255.255.255.255"):
        assert private_range in denied, private_range
    # And every other address, public ones too: browsers talk to Janus only.
    assert {"0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} <= denied
    # The server itself (Janus, at its public address) stays reachable, even inside a denied range
    # (203.0.113.0/24 is one): coturn checks the allowed list first.
    assert [value for key, value in conf if key == "allowed-peer-ip"] == [PUBLIC_IP]


def this_machines_address() -> str:
    """This machine's own IPv4 address on its default route, or loopback without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def uclient(port: int, secret: str, peer: str, peer_port: int) -> str:
    # A user per peer: coturn's user-quota counts the allocations each run leaves behind.
    result = subprocess.run(
        ["turnutils_uclient", "-p", str(port), "-W", secret, "-u", f"spaces-test-{peer}", "-e", peer, "-r", str(peer_port),
         "-n", "3", "-c", "127.0.0.1"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    return result.stdout + result.stderr


def test_turn_relays_to_this_server_and_refuses_private_networks(tmp_path):
    """coturn with the rendered configuration (on free ports, TLS off): with a credential signed by
    TURN_SECRET it relays to the server's own address, where Janus is; to private, link-local,
    loopback and public addresses it refuses (403 Forbidden IP); without the secret there is no relay."""
    require(shutil.which("turnserver") is not None and shutil.which("turnutils_uclient") is not None,
            "coturn is not installed (deploy/install-system-deps)")
    address = this_machines_address()
    # Every uclient run holds its relay ports until the allocation expires: room for all of them.
    port, relay_base, peer_port = free_port(), 43000 + (os.getpid() % 20) * 100, free_port()
    install(
        tmp_path, "--render-only", "--public-ip", address, "--set", "TURN_TLS_PORT=0", "--set", f"TURN_PORT={port}",
        "--set", f"TURN_MIN_PORT={relay_base}", "--set", f"TURN_MAX_PORT={relay_base + 99}", "turn.example.org",
    )
    secret = read_settings(tmp_path)["TURN_SECRET"]
    turn = Process(
        ["turnserver", "-c", str(tmp_path / "etc" / "turnserver.conf"), "--pidfile", str(tmp_path / "turn.pid"),
         "--db", str(tmp_path / "turndb"), "--log-file", str(tmp_path / "turn.log")],
        dict(os.environ), tmp_path / "turnserver.out",
    )
    peer = Process(["turnutils_peer", "-L", address, "-p", str(peer_port)], dict(os.environ), tmp_path / "peer.out")
    try:
        assert wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True, timeout=15)
        relayed = uclient(port, secret, address, peer_port)
        assert "tot_recv_msgs=3" in relayed, relayed
        refused = [peer_address for peer_address in ("10.255.255.254", "192.168.255.254", "172.31.255.254", "169.254.169.254",
                                                     "1.1.1.1") if peer_address != address]
        if address != "127.0.0.1":
            refused.append("127.0.0.1")
        for peer_address in refused:
            output = uclient(port, secret, peer_address, peer_port)
            assert "403 (Forbidden IP)" in output and "tot_recv_msgs=3" not in output, (peer_address, output)
        assert "tot_recv_msgs=3" not in uclient(port, "not-the-secret", address, peer_port)
    finally:
        peer.stop()
        turn.stop()


def test_sync_cert_gives_coturn_caddys_newest_certificate_once(tmp_path):
    data, out = tmp_path / "caddy", tmp_path / "tls"
    issued = data / "certificates" / "acme-v02.api.letsencrypt.org-directory" / DOMAIN
    issued.mkdir(parents=True)
    (issued / f"{DOMAIN}.crt").write_text("certificate 1")
    (issued / f"{DOMAIN}.key").write_text("key 1")
    env = {**os.environ, "TURN_HOST": DOMAIN, "CADDY_DATA": str(data), "TURN_CERT_DIR": str(out),
           "TURN_CERT_GROUP": grp.getgrgid(os.getgid()).gr_name, "SYNC_CERT_NO_SIGNAL": "1"}

    def sync() -> str:
        result = subprocess.run([str(ROOT / "deploy" / "coturn" / "sync-cert")], env=env, capture_output=True, text=True,
                                check=False, timeout=30)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "coturn now has" in sync()
    assert (out / "cert.pem").read_text() == "certificate 1" and (out / "key.pem").read_text() == "key 1"
    assert mode(out / "key.pem") == 0o640 and mode(out) == 0o750
    assert sync() == ""  # unchanged: nothing copied, coturn left alone
    # A renewal by another issuer, newer: that one.
    renewed = data / "certificates" / "acme.zerossl.com-v2-dv90" / DOMAIN
    renewed.mkdir(parents=True)
    (renewed / f"{DOMAIN}.crt").write_text("certificate 2")
    (renewed / f"{DOMAIN}.key").write_text("key 2")
    later = time.time() + 60
    os.utime(renewed / f"{DOMAIN}.crt", (later, later))
    assert "coturn now has" in sync()
    assert (out / "cert.pem").read_text() == "certificate 2" and (out / "key.pem").read_text() == "key 2"


# The code copy and the scripts


def test_the_code_is_copied_without_local_state_and_the_previous_copy_kept(installed):
    root, _ = installed
    app = root / "opt" / "spaces" / "app"
    assert (app / "manage.py").is_file() and os.access(app / "deploy" / "janus" / "run", os.X_OK)
    assert os.readlink(app / ".venv") == "/opt/spaces/venv"
    for local in (".git", "var", "staticfiles", "test-artifacts"):
        assert not (app / local).exists(), local
    assert not list(app.rglob("__pycache__"))
    assert (root / "opt" / "spaces" / "app.previous" / "manage.py").is_file()
    assert not (root / "opt" / "spaces" / "app.new").exists()


def test_render_only_writes_configuration_and_no_code(tmp_path):
    install(tmp_path, "--render-only", "--public-ip", PUBLIC_IP, DOMAIN)
    assert (tmp_path / "etc" / "caddy" / "Caddyfile").is_file() and (tmp_path / "etc" / "turnserver.conf").is_file()
    assert not (tmp_path / "opt" / "spaces" / "app").exists()


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shell_scripts_parse_and_pass_shellcheck(script):
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    require(shutil.which("shellcheck") is not None, "shellcheck is not installed (deploy/install-system-deps)")
    result = subprocess.run(["shellcheck", str(ROOT / script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
