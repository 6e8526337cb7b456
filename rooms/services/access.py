"""Who is acting: the checks every service opens with."""

from ..errors import NotPermitted
from ..models import Participant, Space
from ..permissions import Seat


def is_host_or_staff(actor, space: Space) -> bool:
    """The Space's host, or a member of the site's staff (admins act as the host)."""
    return bool(actor and actor.is_authenticated and (actor.pk == space.host_id or actor.is_staff))


def require_host_or_staff(actor, space: Space, what: str) -> None:
    if not is_host_or_staff(actor, space):
        raise NotPermitted(f"Only the host can {what}.")


def require_room_staff(space: Space, actor) -> Participant:
    """The actor's own participant record, if they are host or co-host of this Space."""
    if actor is None or not actor.is_authenticated:
        raise NotPermitted("Sign in as the host or a co-host to do that.", code="not_authenticated")
    actor_p = space.participants.filter(user=actor, removed_at__isnull=True).first()
    if actor_p is None or not actor_p.is_staff_role:
        raise NotPermitted("Only the host and co-hosts can do that.")
    return actor_p


def seat_of(participant: Participant | None) -> Seat | None:
    return Seat.of(participant) if participant is not None and participant.removed_at is None else None
