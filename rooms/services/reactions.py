"""Reactions: ephemeral, stored nowhere, sent to everyone in the room."""

from .. import events
from ..errors import Conflict, InvalidInput, NotLive
from ..models import Participant, Space
from .stage import not_live_detail

REACTIONS = ("👏", "❤️", "😂", "🔥", "💯", "🙌", "😮", "👍")


def reaction_send(*, space: Space, participant: Participant, emoji: str) -> None:
    """Send a reaction to everyone in the room; it takes no seq. A quiet listener's reaction is
    shown without their name."""
    if emoji not in REACTIONS:
        raise InvalidInput(f"Pick one of {' '.join(REACTIONS)}.", code="unknown_reaction")
    if space.state != Space.State.LIVE:
        raise NotLive(not_live_detail(space))
    if not participant.is_present:
        raise Conflict("Join the Space first.", code="not_present")
    events.publish_now(space.pk, events.reaction(emoji, by=None if participant.quiet else participant.display_name))
