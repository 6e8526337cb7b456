"""Reads: whether a Space's captions are on, who on its stage consented, what the viewer may do,
its transcript (searched), and the Spaces the captions worker serves."""

from django.db.models import Q, QuerySet

from rooms.identity import Visitor
from rooms.models import Participant, Space

from .models import CaptionConsent, CaptionSegment, SpaceCaptions


def captions_on(space: Space) -> bool:
    return SpaceCaptions.objects.filter(space=space, on=True).exists()


def _captioned_live() -> QuerySet[SpaceCaptions]:
    """Captions that are on, of Spaces that are live: what the worker serves and forwards go to."""
    return SpaceCaptions.objects.filter(on=True, space__state=Space.State.LIVE)


def room_captioned(room_id: int) -> bool:
    """Is media room ``room_id`` a live Space's with captions on (``captions.forwarding``, while
    Redis cannot say)?"""
    return _captioned_live().filter(space__media_room_id=room_id).exists()


def has_consented(user) -> bool:
    return bool(user and user.is_authenticated) and CaptionConsent.objects.filter(user=user).exists()


def consenting_speakers(space: Space) -> list[Participant]:
    """Who on the stage agreed to be captioned (host, co-hosts and speakers)."""
    return list(space.participants.on_stage().filter(user__caption_consent__isnull=False).order_by("pk"))


def stage_consent(space_id: int) -> dict[str, tuple[str, bool]]:
    """Everyone on stage: uid -> (name, consented). The worker's view of who may be captioned."""
    rows = Participant.objects.filter(space_id=space_id).on_stage().values_list(
        "uid", "display_name", "user__caption_consent__id"
    )
    return {uid: (name, consent is not None) for uid, name, consent in rows}


def state_wire(space: Space) -> dict:
    """The shape of ``captions.updated`` frames: on or off, and the consenting speakers' uids
    (``captioned``)."""
    return {"on": captions_on(space) and space.state == Space.State.LIVE,
            "captioned": [p.uid for p in consenting_speakers(space)]}


def viewer_state(space: Space, visitor: Visitor) -> dict:
    """What the room's captions module needs: the shared state, and the viewer's own part (may they
    turn captions on, are they asked to consent, have they)."""
    participant = None
    if visitor.signed_in:
        participant = space.participants.filter(user=visitor.user, removed_at__isnull=True).first()
    live = space.state == Space.State.LIVE
    return state_wire(space) | {
        "may_toggle": bool(live and participant and participant.is_staff_role),
        "may_consent": bool(live and participant and participant.is_speaking_role),
        "consented": has_consented(visitor.user if visitor.signed_in else None),
        "lines": [segment_wire(s) for s in recent(space)],
    }


def recent(space: Space, limit: int = 5) -> list[CaptionSegment]:
    return list(reversed(space.caption_segments.order_by("-start", "-id")[:limit]))


def transcript(space: Space, query: str = "") -> QuerySet[CaptionSegment]:
    """The Space's captions in order; with ``query``, those whose words or speaker contain it."""
    segments = space.caption_segments.all()
    query = " ".join((query or "").split())[:100]
    if query:
        segments = segments.filter(Q(text__icontains=query) | Q(speaker_name__icontains=query))
    return segments


def caption_wire(*, id: int | None, speakers: list[str], name: str, start: float, end: float | None, text: str) -> dict:
    """The shape of ``caption`` frames and transcript lines: final once kept (``id``), else the
    words of an utterance still going on (no ``id``, no ``end``)."""
    return {"id": id, "speaker_ids": speakers, "name": name, "start": round(start, 2),
            "end": None if end is None else round(end, 2), "text": text, "final": id is not None}


def segment_wire(segment: CaptionSegment) -> dict:
    return caption_wire(id=segment.pk, speakers=segment.speakers, name=segment.speaker_name,
                        start=segment.start, end=segment.end, text=segment.text)


def captioned_spaces() -> list[tuple[int, int, float]]:
    """Live Spaces with captions on: (space id, media room id, started at as a Unix time)."""
    rows = _captioned_live().filter(space__media_room_id__isnull=False)
    return [(sid, room, started.timestamp() if started else 0.0)
            for sid, room, started in rows.values_list("space_id", "space__media_room_id", "space__started_at")]
