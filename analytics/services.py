"""Every write of host analytics: the sampler (beat, every ``SPACES_ANALYTICS_SAMPLE_INTERVAL``),
the counters kept when a Space ends, and replay plays."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from rooms import selectors as rooms_selectors
from rooms.models import Space
from rooms.services.reactions import reactions_counted

from .models import ListenerSample, SpaceTally, StageAppearance


def listeners_sample(*, now=None) -> int:
    """Record the listener count of every live Space (``rooms.selectors.listener_count``), its
    reactions so far and who is on stage. Returns how many Spaces were sampled. Each sample is
    a count: nobody's identity is kept for a listener."""
    now = now or timezone.now()
    sampled = 0
    for space in Space.objects.filter(state=Space.State.LIVE):
        with transaction.atomic():
            ListenerSample.objects.create(
                space=space, at=now, listeners=rooms_selectors.listener_count(space=space),
                reactions=reactions_counted(space.pk),
            )
            _appearances(space)
        sampled += 1
    return sampled


def space_tally_close(*, space: Space) -> SpaceTally:
    """The Space ended (inside that transaction, ``rooms.signals.space_ended``): keep its
    reactions count, who was on stage at the end, and a last sample of no listeners, so that
    listening time stops where the Space did."""
    tally, _ = SpaceTally.objects.get_or_create(space=space)
    tally.reactions = max(tally.reactions, reactions_counted(space.pk))
    tally.save(update_fields=["reactions"])
    _appearances(space)
    ListenerSample.objects.create(space=space, at=space.ended_at or timezone.now(), listeners=0, reactions=tally.reactions)
    return tally


def replay_play_count(*, space: Space) -> None:
    """One more play of the replay: a fetch of it from its first byte."""
    SpaceTally.objects.get_or_create(space=space)
    SpaceTally.objects.filter(space=space).update(replay_plays=F("replay_plays") + 1)


def _appearances(space: Space) -> None:
    StageAppearance.objects.bulk_create(
        [StageAppearance(space=space, participant=p) for p in rooms_selectors.stage(space=space)],
        ignore_conflicts=True,
    )
