"""Write Janus's configuration, from deploy/janus/*.jcfg with this project's settings filled in.

The files hold secrets (admin key and secret, token and events secrets): they are created
readable by their owner only (0600) in a folder only the owner can enter (0700).
"""

import ipaddress
import os
from pathlib import Path
from string import Template

from django.conf import settings
from django.core.management.base import BaseCommand

TEMPLATES = Path(settings.BASE_DIR) / "deploy" / "janus"


def write_private(path: Path, text: str) -> None:
    """Write ``path`` with mode 0600: a new file is never readable by others, not even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)  # a file left by an older run may have been created more open
        file.write(text)


def nat(janus: dict) -> str:
    """The settings' lines of janus.jcfg's ``nat`` section. No STUN and no TURN for Janus itself:
    it has a public address (given here when a 1:1 NAT hides it); browsers get TURN (docs/MEDIA.md).
    A loopback JANUS_PUBLIC_IP (everything on one machine) maps nothing: Janus never gathers
    candidates on loopback, so its candidates would name an address none of its sockets is on."""
    public = [address for address in janus["PUBLIC_IP"] if not ipaddress.ip_address(address).is_loopback]
    if public:
        lines = [f'nat_1_1_mapping = "{",".join(public)}"']
    else:
        lines = ["# No public address apart from the interfaces' own (JANUS_PUBLIC_IP empty or loopback)."]
    if janus["ICE_ENFORCE_LIST"]:
        lines.append(f'ice_enforce_list = "{",".join(janus["ICE_ENFORCE_LIST"])}"')
    return "\n".join(f"\t{line}" for line in lines)


def values(folder: Path) -> dict:
    janus = settings.JANUS
    first = janus["FORWARD_PORT_BASE"]
    return {
        "config_dir": str(folder),
        "lib_dir": janus["LIB_DIR"],
        "debug_level": janus["DEBUG_LEVEL"],
        "event_loops": janus["EVENT_LOOPS"],
        "admin_secret": janus["ADMIN_SECRET"],
        "admin_key": janus["ADMIN_KEY"],
        "token_secret": janus["TOKEN_SECRET"],
        "rtp_range": janus["RTP_RANGE"],
        "forward_range": f"{first}-{first + janus['FORWARD_PORT_COUNT'] - 1}",
        "http_port": janus["HTTP_PORT"],
        "http_bind": janus["HTTP_BIND"],
        "admin_port": janus["ADMIN_PORT"],
        "ws_port": janus["WS_PORT"],
        "ws_bind": janus["WS_BIND"],
        "events_url": janus["EVENTS_URL"],
        "events_secret": janus["EVENTS_SECRET"],
        "nat": nat(janus),
    }


class Command(BaseCommand):
    help = "Render the Janus configuration into a folder (see deploy/janus/run)."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True)

    def handle(self, *args, out, **options):
        folder = Path(out).resolve()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        filled = values(folder)
        for template in sorted(TEMPLATES.glob("*.jcfg")):
            write_private(folder / template.name, Template(template.read_text()).substitute(filled))
        self.stdout.write(f"Janus configuration written to {folder}")
