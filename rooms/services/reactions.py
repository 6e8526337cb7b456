"""Reactions: ephemeral, sent to everyone in the room; only how many a Space had is kept (a
counter in Redis per Space, which host analytics read while live and keep when it ends)."""

from .. import events, presence, throttles
from ..errors import Conflict, InvalidInput, NotLive, Throttled
from ..models import Participant, Space
from .stage import not_live_detail

REACTIONS = ("👏", "❤️", "😂", "🔥", "💯", "🙌", "😮", "👍")
# Long enough to outlive any Space: the count is written to the database when the Space ends.
REACTIONS_COUNT_TTL = 7 * 24 * 3600


def reactions_key(space_id: int) -> str:
    return f"{presence.space_key(space_id)}:reactions"


def reactions_counted(space_id: int) -> int:
    """How many reactions the Space has had (a counter, never who sent them)."""
    return int(presence.sync_client().get(reactions_key(space_id)) or 0)


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
    takes = [(person, f"{space.pk}:{participant.uid}")]
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
    counter = presence.sync_client().pipeline(transaction=False)
    counter.incr(reactions_key(space.pk))
    counter.expire(reactions_key(space.pk), REACTIONS_COUNT_TTL)
    counter.execute()
    events.publish_now(space.pk, events.reaction(emoji, by=None if participant.quiet else participant.display_name))
