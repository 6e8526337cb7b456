"""The snapshot: the whole visible state of a Space for one viewer, the first frame of every
websocket and the answer to a resync. Objects in it have the one wire shape (``rooms.wire``).

It also tells the viewer what they may do: ``can`` maps each kind of person to the actions the
viewer may take on someone of that kind, and ``me.can`` lists the viewer's own actions, both
computed by ``rooms.permissions``, the rules the services enforce, so that the page offers nothing
the server would refuse.
"""

from django.conf import settings

from . import presence
from .models import Participant, Space
from .permissions import actions_by_kind
from .selectors import hands_raised, listeners_newest
from .services.access import seat_of
from .wire import ParticipantSerializer, participant_wire, space_wire

Role = Participant.Role

SNAPSHOT_LISTENERS = 100
RAISE_HAND, LEAVE = "raise_hand", "leave"
# The viewer's own staff tools (docs/REALTIME.md): mute everyone else on stage, pin a link.
MUTE_ALL, PIN_LINK = "mute_all", "pin_link"


def space_snapshot(*, space_id: int, viewer: Participant | None) -> dict:
    """The snapshot for ``viewer`` (None: someone watching who is not in the Space), with the
    ``seq`` it reflects.

    The seq is read first: an event that commits while the rest is read is then both in the
    state and delivered again as the next delta, and deltas are idempotent, so nothing is lost.
    """
    space = Space.objects.select_related("host").get(pk=space_id)
    seq = space.event_seq
    live = space.is_live
    if viewer is not None:
        viewer = Participant.objects.filter(pk=viewer.pk).first()
    listeners = listeners_newest(space=space, limit=SNAPSHOT_LISTENERS) if live else []
    seat = seat_of(viewer) if live else None
    space_data = space_wire(space)  # holds the stage ("speakers") and the listener count already
    stage = space_data["speakers"] if live else []
    cohosts = sum(1 for person in stage if person["role"] == Role.COHOST)
    data = {
        "space": space_data,
        "stage": stage,
        "listeners": participants_wire(listeners) if live else [],
        "listener_count": space_data["listener_count"] if live else 0,
        "me": participant_wire(viewer) | {"quiet": viewer.quiet, "can": _own_actions(space, viewer)} if viewer else None,
        "can": actions_by_kind(
            seat,
            stage_full=len(stage) >= settings.SPACES_MAX_SPEAKERS,
            cohosts_full=cohosts >= settings.SPACES_MAX_COHOSTS,
        ),
        # The page takes invites off its menus itself when the stage fills, and puts them back.
        "stage_limit": settings.SPACES_MAX_SPEAKERS,
        "cohost_limit": settings.SPACES_MAX_COHOSTS,
        # Who is talking now: someone who arrives mid-sentence sees it at once.
        "speaking": _speaking(space_id, space_data["speakers"]) if live else [],
    }
    if seat is not None and viewer.is_staff_role:
        data["hands"] = participants_wire(hands_raised(space=space))
    return {"type": "snapshot", "seq": seq, "data": data}


def _speaking(space_id: int, stage: list[dict]) -> list[str]:
    talking = presence.speaking_now(space_id)
    return [person["id"] for person in stage if person["id"] in talking]


def participants_wire(people) -> list[dict]:
    """Many participants in their wire shape. One list serializer builds its fields once: a
    serializer per person (``participant_wire``) deep-copies them every time, which made the
    100 newest listeners of a snapshot cost about a millisecond each."""
    return [dict(item) for item in ParticipantSerializer(people, many=True).data]


def _own_actions(space: Space, viewer: Participant) -> list[str]:
    if not space.is_live or not viewer.is_present:
        return []
    can = [LEAVE]
    if viewer.user_id is not None and viewer.role == Role.LISTENER:
        can.insert(0, RAISE_HAND)
    if viewer.is_staff_role:
        can[:0] = [MUTE_ALL, PIN_LINK]
    return can
