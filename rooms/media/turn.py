"""TURN credentials for browsers: coturn's ``use-auth-secret`` scheme (the "TURN REST API").

A browser whose network blocks UDP to Janus (or everything but TLS) reaches it through coturn.
Nothing is stored on coturn's side: the app signs ``<expiry unix time>:<holder>`` with
``TURN_SECRET`` (coturn's ``static-auth-secret``), and coturn recomputes the HMAC and checks that
the expiry is still ahead when an allocation is made. The holder is the one the Janus token names
(``listener-<participant>`` or ``speaker-<media id>``), so coturn's log and its per-user quota
(``user-quota``: coturn counts a holder's allocations, whatever their expiry) are per person.

Every media credential (``MediaServer.credentials``) carries these in ``ice_servers``, for
``RTCPeerConnection``'s ``iceServers``; an empty list when ``TURN_HOST`` is empty.
"""

import base64
import hashlib
import hmac
import time

from django.conf import settings


def sign(username: str, secret: str) -> str:
    """coturn's password for ``username``: base64 of its HMAC-SHA1 with the shared secret."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def ice_servers(holder: str) -> list[dict]:
    """The RTCIceServer list for ``holder``: TURN over UDP and TCP, and over TLS unless
    ``TURN_TLS_PORT`` is 0, with one credential good for new relays for ``TURN_TTL`` seconds."""
    turn = settings.TURN
    if not turn["HOST"]:
        return []
    host = f"[{turn['HOST']}]" if ":" in turn["HOST"] and not turn["HOST"].startswith("[") else turn["HOST"]
    urls = [f"turn:{host}:{turn['PORT']}?transport=udp", f"turn:{host}:{turn['PORT']}?transport=tcp"]
    if turn["TLS_PORT"]:
        urls.append(f"turns:{host}:{turn['TLS_PORT']}?transport=tcp")
    username = f"{int(time.time()) + turn['TTL']}:{holder}"
    return [{"urls": urls, "username": username, "credential": sign(username, turn["SECRET"])}]
