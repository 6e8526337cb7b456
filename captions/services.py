"""Every change to captions, one function each: turn a Space's captions on or off (host and
co-hosts), give or revoke a speaker's consent (the speaker, from the room), keep an utterance the
worker recognised, and let the transcript go with the Space's replay.

Turning captions on makes the media server forward the Space's mix to the captions worker
(``captions.forwarding``): the room's media is re-opened by a Celery task after commit, and the
periodic reconcile keeps that forward for as long as captions are on."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rooms import events
from rooms.errors import InvalidInput, NotLive, NotPermitted
from rooms.models import Space
from rooms.services.access import require_room_staff
from rooms.services.locks import lock_space
from rooms.services.stage import not_live_detail
from spaces.celery import queue

from . import registry, selectors
from .models import CaptionConsent, CaptionSegment, SpaceCaptions

logger = logging.getLogger(__name__)
TEXT_MAX = 2000


def _announce(space: Space) -> None:
    """A ``captions.updated`` frame once this commits, and the media forward brought in line."""
    events.publish_on_commit(space, events.captions_updated(selectors.state_wire(space)))
    space_id = space.pk
    transaction.on_commit(lambda: _queue_media(space_id))


def _queue_media(space_id: int) -> None:
    try:
        queue("rooms.tasks.media_room_open_task", space_id)
    except Exception:  # the broker is down: the reconcile (every few seconds) does it instead
        logger.exception("Could not queue the media update for captions of Space %s", space_id)


def _clean(text: str) -> str:
    """Recognised words as kept and sent: whitespace made single, at most TEXT_MAX characters."""
    return " ".join(text.split())[:TEXT_MAX]


def captions_set(*, space: Space, actor, on) -> SpaceCaptions:
    """The host or a co-host turns a live Space's captions on or off. Publishes ``captions.updated``."""
    if not isinstance(on, bool):
        raise InvalidInput("Say whether captions are on: true or false.", code="invalid_captions")
    with transaction.atomic():
        space = lock_space(space)
        require_room_staff(space, actor)
        if space.state != Space.State.LIVE:
            raise NotLive(not_live_detail(space))
        captions, _ = SpaceCaptions.objects.select_for_update().get_or_create(space=space)
        if captions.on != on:
            captions.on, captions.changed_by = on, actor
            captions.save(update_fields=["on", "changed_by", "changed_at"])
            # The registry first (the worker, and the forward the media update asks for, read it).
            space_id, room_id = space.pk, space.media_room_id
            transaction.on_commit(lambda: registry.mark(space_id, room_id, on))
            _announce(space)
    return captions


def _speaker(space: Space, actor):
    if actor is None or not actor.is_authenticated:
        raise NotPermitted("Sign in to speak, and to be captioned.", code="not_authenticated")
    participant = space.participants.filter(user=actor, removed_at__isnull=True).first()
    if participant is None or not participant.is_speaking_role:
        raise NotPermitted("Only people on stage are captioned: consent is asked of speakers.", code="not_speaker")
    return participant


def consent_give(*, space: Space, actor) -> CaptionConsent:
    """A speaker of a live Space agrees, once for all Spaces, to have their speech captioned."""
    with transaction.atomic():
        space = lock_space(space)
        if space.state != Space.State.LIVE:
            raise NotLive(not_live_detail(space))
        _speaker(space, actor)
        consent, created = CaptionConsent.objects.get_or_create(user=actor)
        if created:
            _announce(space)
    return consent


def consent_revoke(*, space: Space, actor) -> None:
    """Someone takes their consent back: they are not captioned from now on, in any Space. (Words
    already captioned stay in transcripts; their Space's host can delete the replay.)"""
    if actor is None or not actor.is_authenticated:
        raise NotPermitted("Sign in to change your captions consent.", code="not_authenticated")
    with transaction.atomic():
        space = lock_space(space)
        deleted, _ = CaptionConsent.objects.filter(user=actor).delete()
        if deleted and space.state == Space.State.LIVE:
            _announce(space)


def segment_add(*, space_id: int, speakers: list[str], start: float, end: float, text: str) -> CaptionSegment | None:
    """The worker recognised an utterance of consenting speakers (``speakers``: uids, seconds since
    the Space started): kept, and sent to the room as a final ``caption`` once it commits.
    Nothing is kept for a Space that is over or whose captions were turned off meanwhile, nor for
    a speaker who is no longer on stage or has revoked their consent."""
    text = _clean(text)
    if not text or not speakers:
        return None
    with transaction.atomic():
        space = lock_space(space_id)
        if space.state != Space.State.LIVE or not selectors.captions_on(space):
            return None
        stage = selectors.stage_consent(space.pk)
        speakers = [uid for uid in speakers if stage.get(uid, ("", False))[1]]
        if not speakers:
            return None
        start = max(0.0, float(start))
        segment = CaptionSegment.objects.create(
            space=space, speakers=speakers, speaker_name=", ".join(stage[uid][0] for uid in speakers)[:320],
            start=start, end=max(start, float(end)), text=text,
        )
        frame = selectors.segment_wire(segment)
        transaction.on_commit(lambda: events.publish_now(space.pk, events.caption(frame)))
    return segment


def caption_partial(*, space_id: int, speakers: list[str], names: list[str], start: float, text: str) -> None:
    """Words of an utterance still going on: sent to the room now, kept nowhere."""
    text = _clean(text)
    if text and speakers:
        events.publish_now(space_id, events.caption(selectors.caption_wire(
            id=None, speakers=speakers, name=", ".join(names), start=start, end=None, text=text)))


def transcript_remove_for_space(*, space: Space) -> int:
    """The Space's replay is gone (expired or deleted): its transcript goes with it."""
    count, _ = CaptionSegment.objects.filter(space=space).delete()
    return count


def transcripts_expire(*, now=None) -> int:
    """Hourly safety net: transcripts of Spaces that ended longer than a replay is kept ago and have
    no replay (never recorded, or its removal missed) go too."""
    ended_before = (now or timezone.now()) - settings.SPACES_REPLAY_KEEP
    count, _ = CaptionSegment.objects.filter(space__ended_at__lte=ended_before, space__replay="").delete()
    return count
