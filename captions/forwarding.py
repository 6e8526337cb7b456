"""Where the media server sends a captioned Space's mix: the captions worker's UDP address, with
an RTP SSRC naming the room (``settings.SPACES_MEDIA_FORWARDS`` names ``forwards``, so rooms'
media layer asks without importing this app). The worker tells Spaces apart by that SSRC."""

from django.conf import settings

from .models import SpaceCaptions


def ssrc_of(room_id: int) -> int:
    """A room's SSRC on the captions forward: its id folded into 32 bits, never 0."""
    return (room_id % 0xFFFFFFFF) or 1


def forwards(room_id: int) -> set[tuple[str, int, int]]:
    """The extra forwards of media room ``room_id``: (host, port, ssrc) while captions are on."""
    if not settings.CAPTIONS["ENABLED"]:
        return set()
    if not SpaceCaptions.objects.filter(on=True, space__media_room_id=room_id, space__state="live").exists():
        return set()
    return {(settings.CAPTIONS["HOST"], settings.CAPTIONS["PORT"], ssrc_of(room_id))}
