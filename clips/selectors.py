"""Reads: clips of a Space, one clip by its code, who is in the room to clip it, who may delete."""

from django.db.models import QuerySet, Sum

from rooms import selectors as rooms_selectors
from rooms.errors import NotFound
from rooms.identity import Visitor
from rooms.models import Participant, Space
from rooms.services import is_host_or_staff

from .models import Clip


def clip_get(*, code: str) -> Clip:
    clip = Clip.objects.select_related("space", "space__host").filter(code=code).first() if len(code) <= 16 else None
    if clip is None:
        raise NotFound("There is no clip with that code; it may have expired with its Space's replay.",
                       code="clip_not_found")
    return clip


def clips_ready(*, space: Space) -> QuerySet[Clip]:
    """The clips a Space's page lists: encoded ones, newest first."""
    return space.clips.filter(state=Clip.State.READY)


def clip_plays(*, space: Space) -> int:
    return space.clips.aggregate(total=Sum("plays"))["total"] or 0


def present_participant(*, space: Space, visitor: Visitor) -> Participant | None:
    """The visitor as someone in the room now: a present row, or a signed-out listener who is
    listening (kept in Redis, ``rooms.guests``). None when they are not in it."""
    participant = rooms_selectors.participant_for(space=space, visitor=visitor)
    if participant is not None and participant.is_present:
        return participant
    return rooms_selectors.guest_listening(space=space, visitor=visitor)


def is_creator(clip: Clip, visitor: Visitor) -> bool:
    if visitor.signed_in:
        return clip.creator_id == visitor.user.pk
    return bool(visitor.anon_id) and clip.creator_anon == visitor.anon_id


def may_delete(clip: Clip, visitor: Visitor) -> bool:
    """The Space's host and staff delete any clip; its creator deletes their own."""
    return is_host_or_staff(visitor.account, clip.space) or is_creator(clip, visitor)
