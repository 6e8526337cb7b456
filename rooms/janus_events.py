"""Janus's event handler posts here (HTTP Basic auth with a shared secret): AudioBridge's talking
notices become ``speaking`` frames, and a speaker who (re)joins the mix while muted by the host is
muted again in Janus."""

import base64
import binascii
import hmac
import json
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import events
from .services import media as media_sync
from .models import Participant, Space

logger = logging.getLogger(__name__)
PLUGIN_EVENT = 64


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
        body = event.get("event") if isinstance(event, dict) and event.get("type") == PLUGIN_EVENT else None
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict):
            handle_plugin_event(data)
    return HttpResponse(status=204)


def handle_plugin_event(data: dict) -> None:
    kind = data.get("audiobridge") or data.get("event")
    room_id, participant_id = data.get("room"), data.get("id")
    if not isinstance(room_id, int) or not isinstance(participant_id, int):
        return
    # One query per event (talking events come several times a second per speaker).
    participant = (
        Participant.objects.select_related("space")
        .only("uid", "muted", "space__media_room_id")
        .filter(pk=participant_id, space__media_room_id=room_id, space__state=Space.State.LIVE)
        .first()
    )
    if participant is None:
        return
    if kind in ("talking", "stopped-talking"):
        events.publish_now(participant.space_id, events.speaking(participant.uid, talking=kind == "talking"))
    elif kind == "joined" and participant.muted:
        # Queued, not called here: this request must not wait on the media server.
        media_sync.speaker_mute_on_commit(participant.space, participant)
