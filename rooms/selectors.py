"""Reads: what pages, the API and the websocket show about Spaces. No writes here."""

import re

from django.db.models import Count, Q, QuerySet

from .errors import NotFound
from .models import Participant, Space

Role = Participant.Role

# Share codes and participant ids are URL-safe base64; anything else cannot match a row.
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def space_list(*, state: str | None = None) -> QuerySet[Space]:
    spaces = Space.objects.select_related("host").annotate(
        listener_count=Count(
            "participants",
            filter=Q(
                participants__role=Role.LISTENER,
                participants__left_at__isnull=True,
                participants__removed_at__isnull=True,
            ),
        )
    )
    if state == Space.State.SCHEDULED:
        return spaces.filter(state=state).order_by("scheduled_for", "pk")
    if state == Space.State.LIVE:
        return spaces.filter(state=state).order_by("-listener_count", "-started_at", "pk")
    if state:
        return spaces.filter(state=state).order_by("-ended_at", "-pk")
    return spaces.order_by("-created_at", "-pk")


def space_get(*, code: str) -> Space:
    try:
        if not PUBLIC_ID.fullmatch(code):
            raise Space.DoesNotExist
        return Space.objects.select_related("host").get(code=code)
    except Space.DoesNotExist:
        raise NotFound("There is no Space with that code; check the share link.", code="space_not_found")


def participant_get(*, space: Space, uid: str) -> Participant:
    try:
        if not PUBLIC_ID.fullmatch(uid):
            raise Participant.DoesNotExist
        return space.participants.select_related("user").get(uid=uid)
    except Participant.DoesNotExist:
        raise NotFound("There is no such participant in this Space.", code="participant_not_found")


def participant_for(*, space: Space, user=None, anon_id: str = "") -> Participant | None:
    """The participant record of a signed-in user, or of a signed-out session's listener id."""
    if user is not None and user.is_authenticated:
        return space.participants.filter(user=user).first()
    if anon_id:
        return space.participants.filter(user__isnull=True, anon_id=anon_id).first()
    return None


def participants_present(*, space: Space) -> QuerySet[Participant]:
    return space.participants.filter(left_at__isnull=True, removed_at__isnull=True).select_related(
        "user"
    )


def stage(*, space: Space) -> QuerySet[Participant]:
    """Host, co-hosts and speakers, present or briefly away: they keep their seat."""
    return space.participants.filter(
        role__in=Participant.SPEAKING_ROLES, removed_at__isnull=True
    ).select_related("user")


def listener_count(*, space: Space) -> int:
    return participants_present(space=space).filter(role=Role.LISTENER).count()


def presence_counts(*, space: Space) -> tuple[int, int]:
    """``(present, listeners)`` in one pass over the Space's present participants."""
    counts = participants_present(space=space).aggregate(
        present=Count("pk"), listeners=Count("pk", filter=Q(role=Role.LISTENER))
    )
    return counts["present"], counts["listeners"]


def hands_raised(*, space: Space) -> QuerySet[Participant]:
    return participants_present(space=space).filter(hand_raised_at__isnull=False).order_by(
        "hand_raised_at"
    )


def participant_as_dict(participant: Participant) -> dict:
    """How a participant is shown to others. Quiet listeners are never passed here."""
    return {
        "id": participant.uid,
        "name": participant.display_name,
        "role": participant.role,
        "muted": participant.muted,
        "signed_in": participant.user_id is not None,
        "present": participant.is_present,
        "hand_raised": participant.hand_raised_at is not None,
    }


def space_as_dict(space: Space) -> dict:
    return {
        "code": space.code,
        "title": space.title,
        "description": space.description,
        "state": space.state,
        "host": {"username": space.host.username},
        "scheduled_for": space.scheduled_for,
        "started_at": space.started_at,
        "ended_at": space.ended_at,
        "record": space.record,
        "share_url": space.share_url,
    }


SNAPSHOT_LISTENERS = 100


def space_snapshot(*, space_id: int, viewer: Participant | None) -> dict:
    """The whole visible state of a Space for one viewer, with the ``seq`` it reflects.

    The seq is read first: an event that commits while the rest is read is then both in the
    state and delivered again as the next delta, and deltas are idempotent, so nothing is lost.
    """
    space = Space.objects.select_related("host").get(pk=space_id)
    seq = space.event_seq
    present = participants_present(space=space)
    listeners = present.filter(role=Role.LISTENER, quiet=False).order_by("-joined_at")[:SNAPSHOT_LISTENERS]
    if viewer is not None:
        viewer = Participant.objects.filter(pk=viewer.pk).first()
    data = {
        "space": space_as_dict(space),
        "stage": [participant_as_dict(p) for p in stage(space=space)] if space.is_live else [],
        "listeners": [participant_as_dict(p) for p in listeners] if space.is_live else [],
        "listener_count": listener_count(space=space) if space.is_live else 0,
        "me": participant_as_dict(viewer) | {"quiet": viewer.quiet} if viewer else None,
    }
    if viewer is not None and viewer.is_staff_role and viewer.removed_at is None:
        data["hands"] = [participant_as_dict(p) for p in hands_raised(space=space)]
    return {"type": "snapshot", "seq": seq, "data": data}


def media_credentials(*, space: Space, participant: Participant) -> dict | None:
    """Media credentials for someone present in a live Space with a media room; else None."""
    from . import media

    if space.state != Space.State.LIVE or not space.media_room_id or not participant.is_present:
        return None
    return media.credentials(room_id=space.media_room_id, participant=participant)
