"""Who is at the other end of a request: the one place a client's address is worked out.

Throttles (rooms.api.throttling), sign-in lockouts (django-axes, ``AXES_CLIENT_IP_CALLABLE``) and
the loopback check of ``/metrics`` all ask here. ``X-Forwarded-For`` is believed only when
``SPACES_TRUSTED_PROXIES`` says how many proxies stand in front of the app: each proxy appends the
address it was reached from, so the client is that many entries from the right, and whatever a
client wrote into the header itself sits further left, where nobody reads it.
"""

import ipaddress

from django.conf import settings


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str:
    """The client's address: ``REMOTE_ADDR``, or with N trusted proxies the address N hops from the
    right of ``X-Forwarded-For`` (the leftmost one when the header is shorter, as DRF does).

    A value that is not an IP address falls back to ``REMOTE_ADDR``."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.SPACES_TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops <= 0 or not forwarded:
        return remote
    addresses = [entry for entry in forwarded.split(",") if entry.strip()]
    if not addresses:
        return remote
    return _address(addresses[-min(hops, len(addresses))]) or remote


def from_this_machine(request) -> bool:
    """A request straight from a loopback address, through no proxy (no ``X-Forwarded-For``:
    every proxy adds one), whatever ``SPACES_TRUSTED_PROXIES`` says."""
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False
    address = _address(request.META.get("REMOTE_ADDR", ""))
    return address is not None and ipaddress.ip_address(address).is_loopback
