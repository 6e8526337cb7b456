"""Where the media server sends a captioned Space's mix: the captions worker's UDP address, with
an RTP SSRC naming the room (``settings.SPACES_MEDIA_FORWARDS`` names ``forwards``, so rooms'
media layer asks without importing this app). The worker tells Spaces apart by that SSRC.

The reconcile asks for every live room every 2 s, so the answer comes from Redis
(``captions.registry``: one command, no SQL); from PostgreSQL only while Redis cannot say."""

import redis
from django.conf import settings

from rooms import presence

from . import registry, selectors


def ssrc_of(room_id: int) -> int:
    """A room's SSRC on the captions forward: its id folded into 32 bits, never 0."""
    return (room_id % 0xFFFFFFFF) or 1


def captioned(room_id: int) -> bool:
    """Is media room ``room_id`` a live Space's with captions on? The registry's answer; the
    database's while the registry was lost (and not yet rebuilt by the worker) or Redis does not
    answer."""
    try:
        known = registry.room_captioned(presence.sync_client(), room_id)
    except redis.RedisError:
        known = None
    if known is not None:
        return known
    return selectors.room_captioned(room_id)


def forwards(room_id: int) -> set[tuple[str, int, int]]:
    """The extra forwards of media room ``room_id``: (host, port, ssrc) while captions are on."""
    if not settings.CAPTIONS["ENABLED"] or not captioned(room_id):
        return set()
    return {(settings.CAPTIONS["HOST"], settings.CAPTIONS["PORT"], ssrc_of(room_id))}
