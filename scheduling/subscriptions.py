"""The browsers a person gets notifications in (Web Push subscriptions): the services that add
and remove them. What is pushed, and when, is ``scheduling.services``; how, ``scheduling.push``."""

import ipaddress
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction

from rooms.errors import InvalidInput, InvalidTransition, NotPermitted

from . import push
from .models import PushSubscription

# Browsers a person gets pushes in; subscribing one more forgets the oldest.
PUSH_SUBSCRIPTIONS_MAX = 10



def push_subscribe(*, user, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Remember a browser ``user`` wants notifications in (the browser's PushSubscription).
    The same endpoint again updates it (and moves it to whoever is signed in there now); past
    ``PUSH_SUBSCRIPTIONS_MAX`` browsers the oldest is forgotten. Checks that the endpoint is an
    https URL of a public host (the server will post to it) and that the keys are what RFC 8291
    needs: a P-256 public key and a 16-byte secret."""
    if user is None or not user.is_authenticated:
        raise NotPermitted("Sign in to get notifications in this browser.", code="not_authenticated")
    if push.vapid_keys() is None:
        raise InvalidTransition("Browser notifications are not set up on this server.", code="push_unavailable")
    _check_push_endpoint(endpoint)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), push.b64url_decode(p256dh))
    except (ValueError, TypeError):
        raise InvalidInput("keys.p256dh is not a P-256 public key (base64url).", code="invalid_push_key") from None
    try:
        auth_ok = len(push.b64url_decode(auth)) == 16
    except (ValueError, TypeError):
        auth_ok = False
    if not auth_ok:
        raise InvalidInput("keys.auth is not a 16-byte secret (base64url).", code="invalid_push_key")
    with transaction.atomic():
        subscription, _ = PushSubscription.objects.update_or_create(
            endpoint=endpoint, defaults={"user": user, "p256dh": p256dh, "auth": auth}
        )
        keep = PushSubscription.objects.filter(user=user).order_by("-pk").values_list("pk", flat=True)[
            :PUSH_SUBSCRIPTIONS_MAX
        ]
        PushSubscription.objects.filter(user=user).exclude(pk__in=list(keep)).delete()
    return subscription


def push_unsubscribe(*, user, endpoint: str) -> int:
    """Forget one of ``user``'s browsers. Returns how many were forgotten (0 or 1)."""
    if user is None or not user.is_authenticated:
        raise NotPermitted("Sign in to manage browser notifications.", code="not_authenticated")
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted


def _check_push_endpoint(endpoint: str) -> None:
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise InvalidInput("endpoint is not a URL.", code="invalid_push_endpoint") from None
    if settings.WEBPUSH_ALLOW_LOCAL_ENDPOINTS and parts.scheme in ("http", "https") and host:
        return
    if parts.scheme != "https" or not host or parts.username or parts.password:
        raise InvalidInput("endpoint must be the https URL your browser's push service gave.", code="invalid_push_endpoint")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or (
        address is not None and not address.is_global
    ):
        raise InvalidInput("endpoint must be on a public push service.", code="invalid_push_endpoint")
