"""Reactions: ephemeral, stored nowhere, sent to everyone in the room."""

from .. import events, throttles
from ..errors import Conflict, InvalidInput, NotLive, Throttled
from ..models import Participant, Space
from .stage import not_live_detail

REACTIONS = ("👏", "❤️", "😂", "🔥", "💯", "🙌", "😮", "👍")


def reaction_send(*, space: Space, participant: Participant, emoji: str, client: str = "") -> None:
    """Send a reaction to everyone in the room; it takes no seq. A quiet listener's reaction is
    shown without their name.

    Limited per person over all their sockets (``SPACES_REACTIONS_PER_PERSON`` a second, bursts
    as for one socket) and per client address (``SPACES_REACTIONS_PER_CLIENT``): ``Throttled``."""
    if emoji not in REACTIONS:
        raise InvalidInput(f"Pick one of {' '.join(REACTIONS)}.", code="unknown_reaction")
    if space.state != Space.State.LIVE:
        raise NotLive(not_live_detail(space))
    if not participant.is_present:
        raise Conflict("Join the Space first.", code="not_present")
    person = throttles.reactions_per_person()
    takes = [(person, f"{space.pk}:{participant.pk}")]
    if client:
        takes.append((throttles.reactions_per_client(), client))
    refused = throttles.take(*takes)
    if refused:
        bucket, wait = refused
        whose = "from you" if bucket is person else "from your address"
        raise Throttled(
            f"Too many reactions {whose}: at most {bucket.rate:g} a second; wait a moment.",
            retry_after=throttles.retry_after(wait),
        )
    events.publish_now(space.pk, events.reaction(emoji, by=None if participant.quiet else participant.display_name))
