"""Write Janus's configuration, from deploy/janus/*.jcfg with this project's settings filled in."""

from pathlib import Path
from string import Template

from django.conf import settings
from django.core.management.base import BaseCommand

TEMPLATES = Path(settings.BASE_DIR) / "deploy" / "janus"


class Command(BaseCommand):
    help = "Render the Janus configuration into a folder (see deploy/janus/run)."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True)

    def handle(self, *args, out, **options):
        folder = Path(out).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        janus = settings.JANUS
        values = {
            "config_dir": str(folder),
            "lib_dir": janus["LIB_DIR"],
            "admin_secret": janus["ADMIN_KEY"],
            "admin_key": janus["ADMIN_KEY"],
            "token_secret": janus["TOKEN_SECRET"],
            "rtp_range": janus["RTP_RANGE"],
            "http_port": janus["HTTP_PORT"],
            "ws_port": janus["WS_PORT"],
            "bind_ip": janus["BIND_IP"],
            "events_url": janus["EVENTS_URL"],
            "events_secret": janus["EVENTS_SECRET"],
        }
        for template in sorted(TEMPLATES.glob("*.jcfg")):
            (folder / template.name).write_text(Template(template.read_text()).substitute(values))
        self.stdout.write(f"Janus configuration written to {folder}")
