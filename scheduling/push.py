"""Web Push: the VAPID keys that identify this server to browsers' push services, and sending
one encrypted message (RFC 8291, aes128gcm) to one subscription with pywebpush.

Keys come from the environment (``VAPID_PUBLIC_KEY``, ``VAPID_PRIVATE_KEY``, made by
``deploy/install``). A local run without them (DEBUG) makes a pair once into
``var/vapid.json`` and keeps it: browsers' subscriptions are bound to the public key, so it must
not change between runs. With DEBUG off and no keys, push is off and pages say so.
"""

import base64
import json
import logging
import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

logger = logging.getLogger(__name__)

# A push service answers these for a subscription that is gone for good (RFC 8030 §7.3; 404 in
# practice too): the subscription is deleted.
GONE = {404, 410}


@dataclass(frozen=True)
class VapidKeys:
    public: str  # base64url, uncompressed P-256 point: the browser's applicationServerKey
    private: str  # base64url, the 32-byte private number


class SubscriptionGone(Exception):
    pass


class PushFailed(Exception):
    """The push service did not take the message (down, or refusing for now): try again later."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_keys_generate() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return VapidKeys(public=b64url(public), private=b64url(key.private_numbers().private_value.to_bytes(32, "big")))


def vapid_keys() -> VapidKeys | None:
    """The server's key pair, or None when push is off."""
    if settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY:
        return VapidKeys(public=settings.VAPID_PUBLIC_KEY, private=settings.VAPID_PRIVATE_KEY)
    if not settings.DEBUG:
        return None
    return _local_keys(Path(settings.VAR_DIR) / "vapid.json")


@cache
def _local_keys(path: Path) -> VapidKeys:
    """The local run's key pair: made once, by whichever process (web, worker) needs it first;
    the others read that one (O_EXCL decides the race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            text = path.read_text()
            if text.strip():
                data = json.loads(text)
                return VapidKeys(public=data["public"], private=data["private"])
            time.sleep(0.05)
        raise RuntimeError(f"{path} is empty: delete it to make a new VAPID key pair.")
    keys = vapid_keys_generate()
    with os.fdopen(fd, "w") as file:
        json.dump({"public": keys.public, "private": keys.private}, file)
    logger.info("Made a VAPID key pair for Web Push in %s", path)
    return keys


def push_send(*, subscription: dict, payload: dict) -> None:
    """Encrypt ``payload`` (JSON) for one subscription and post it to its push service.
    Raises ``SubscriptionGone`` (delete it) or ``PushFailed`` (retry later)."""
    keys = vapid_keys()
    if keys is None:
        raise PushFailed("Web Push is not configured: set VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY.")
    try:
        webpush(
            subscription_info=subscription,
            data=json.dumps(payload),
            vapid_private_key=Vapid02.from_raw(keys.private.encode()),
            vapid_claims={"sub": settings.VAPID_SUBJECT},
            ttl=settings.WEBPUSH_TTL,
            timeout=10,
        )
    except WebPushException as error:
        status = error.response.status_code if error.response is not None else None
        if status in GONE:
            raise SubscriptionGone(str(status)) from error
        raise PushFailed(f"push service answered {status}: {error}") from error
    except OSError as error:  # requests' connection errors and timeouts are OSErrors
        raise PushFailed(str(error)) from error
