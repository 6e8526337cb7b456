"""Reads: who may see a Space's analytics, and the report itself, derived from the samples."""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from clips.selectors import clip_plays
from rooms import presence
from rooms.errors import NotPermitted
from rooms.models import Participant, Space
from rooms.services.reactions import reactions_counted

from .models import ListenerSample, SpaceTally, StageAppearance


def can_view(*, space: Space, user) -> bool:
    """The host, a co-host of this Space, or staff."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff or user.pk == space.host_id:
        return True
    return space.participants.filter(user=user, role=Participant.Role.COHOST, removed_at__isnull=True).exists()


def require_viewer(*, space: Space, user) -> None:
    if not can_view(space=space, user=user):
        if user is None or not user.is_authenticated:
            raise NotPermitted("Sign in as the host or a co-host to see this Space's analytics.", code="not_authenticated")
        raise NotPermitted("Only the host, co-hosts and staff can see a Space's analytics.", code="analytics_hosts_only")


@dataclass
class Report:
    space: Space
    samples: list[ListenerSample] = field(default_factory=list)
    peak: int = 0
    unique: int = 0
    listener_seconds: float = 0.0
    speakers: int = 0
    reactions: int = 0
    replay_plays: int = 0
    clip_plays: int = 0

    @property
    def average_listening_seconds(self) -> float:
        """Listener-seconds over different listeners: nothing is kept per listener."""
        return self.listener_seconds / self.unique if self.unique else 0.0

    @property
    def first_at(self) -> datetime | None:
        return self.space.started_at or (self.samples[0].at if self.samples else None)


def listener_seconds(samples: list[ListenerSample], *, until: datetime | None) -> float:
    """Each sample's count held until the next sample (or ``until`` for the last one), but never
    longer than two intervals: a gap in sampling (beat down) is not counted as listening."""
    cap = 2 * settings.SPACES_ANALYTICS_SAMPLE_INTERVAL
    total = 0.0
    for sample, following in zip(samples, [*(s.at for s in samples[1:]), until]):
        if following is not None:
            total += sample.listeners * min(max((following - sample.at).total_seconds(), 0.0), cap)
    return total


def space_report(*, space: Space) -> Report:
    samples = list(ListenerSample.objects.filter(space=space))
    live = space.state == Space.State.LIVE
    tally = SpaceTally.objects.filter(space=space).first()
    reactions = reactions_counted(space.pk) if live else (tally.reactions if tally else 0)
    stage_now = set(space.participants.on_stage().values_list("pk", flat=True)) if live else set()
    seen = set(StageAppearance.objects.filter(space=space).values_list("participant_id", flat=True))
    return Report(
        space=space,
        samples=samples,
        peak=max([space.peak_listeners, *(s.listeners for s in samples)]),
        unique=presence.unique_listeners(space.pk) if live else space.unique_listeners,
        listener_seconds=listener_seconds(samples, until=timezone.now() if live else None),
        speakers=len(seen | stage_now),
        reactions=reactions,
        replay_plays=tally.replay_plays if tally else 0,
        clip_plays=clip_plays(space=space),
    )
