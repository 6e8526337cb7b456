"""Janus's event handler posts here (HTTP Basic auth with a shared secret).

AudioBridge's talking notices become ``speaking`` frames. Every event that can change a room's
mix (someone joined, reconfigured themself, left) brings that room back in line with the database
(``rooms.services.media``): a join is checked against the token it came with, a speaker the host
muted who unmutes themself is muted again. The work is queued for a worker: this request never
waits on the media server."""

import base64
import binascii
import hmac
import json
import logging

import redis
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import events, presence
from .models import Participant, Space
from .services import media as media_sync

logger = logging.getLogger(__name__)
PLUGIN_EVENT = 64
AUDIOBRIDGE = "janus.plugin.audiobridge"
MIX_CHANGES = {"configured", "left", "leaving", "kicked"}


def authorised(request) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user == "janus" and hmac.compare_digest(password, settings.JANUS["EVENTS_SECRET"])


@csrf_exempt
@require_POST
def janus_events(request):
    if not authorised(request):
        return JsonResponse({"detail": "Unknown event source.", "code": "not_authenticated"}, status=401)
    try:
        batch = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "Send JSON.", "code": "malformed_request"}, status=400)
    for event in batch if isinstance(batch, list) else [batch]:
        if not isinstance(event, dict) or event.get("type") != PLUGIN_EVENT:
            continue
        body = event.get("event")
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict) and body.get("plugin") == AUDIOBRIDGE:
            handle_plugin_event(data, session_id=event.get("session_id"), handle_id=event.get("handle_id"))
    return HttpResponse(status=204)


def _ids(*values) -> bool:
    return all(isinstance(value, int) and not isinstance(value, bool) for value in values)


def handle_plugin_event(data: dict, *, session_id=None, handle_id=None) -> None:
    kind = data.get("audiobridge") or data.get("event")
    room_id, media_id = data.get("room"), data.get("id")
    if not _ids(room_id):
        return
    if kind in ("talking", "stopped-talking") and _ids(media_id):
        # One query per event (talking events come several times a second per speaker).
        participant = (
            Participant.objects.only("uid", "space_id")
            .filter(media_id=media_id, space__media_room_id=room_id, space__state=Space.State.LIVE)
            .first()
        )
        if participant is not None:
            talking = kind == "talking"
            try:
                presence.speaking_mark(participant.space_id, str(participant.uid), talking)
            except redis.RedisError:
                logger.warning("Space %s: could not keep who is talking (Redis)", participant.space_id)
            events.publish_now(participant.space_id, events.speaking(participant.uid, talking=talking))
        return
    if kind == "joined" or kind in MIX_CHANGES:
        media_sync.mix_changed(
            room_id=room_id,
            joined=media_id if kind == "joined" and _ids(media_id) else None,
            session_id=session_id if _ids(session_id) else None,
            handle_id=handle_id if _ids(handle_id) else None,
        )
