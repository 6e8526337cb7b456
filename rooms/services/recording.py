"""Replays: a recorded Space's mix, kept for SPACES_REPLAY_DAYS and deletable by its host."""

import logging
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..errors import Conflict
from ..models import Space
from .access import require_host_or_staff
from .locks import lock_space

logger = logging.getLogger(__name__)


def recording_path(space: Space) -> Path:
    return Path(settings.JANUS["RECORDINGS_DIR"]) / f"space-{space.code}.wav"


def space_replay_attach(*, space_id: int, wait: float = 5.0) -> Space:
    """Keep the recorded mix as the Space's replay. The media server finishes the file when the
    room is destroyed, so wait a moment for it."""
    space = Space.objects.get(pk=space_id)
    path = recording_path(space)
    deadline = time.monotonic() + wait
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not path.exists():
        logger.warning("No recording found for Space %s at %s", space.code, path)
        return space
    relative = path.relative_to(Path(settings.MEDIA_ROOT)) if path.is_relative_to(settings.MEDIA_ROOT) else path.name
    Space.objects.filter(pk=space.pk).update(
        replay=str(relative), replay_expires_at=timezone.now() + settings.SPACES_REPLAY_KEEP
    )
    space.refresh_from_db()
    return space


def space_replay_delete(*, space: Space, actor) -> Space:
    """The host (or staff) deletes a replay: the file and the link. Locks the Space."""
    with transaction.atomic():
        space = lock_space(space)
        require_host_or_staff(actor, space, "delete this replay")
        if not space.replay:
            raise Conflict("This Space has no replay.", code="no_replay")
        path = Path(settings.MEDIA_ROOT) / space.replay
        space.replay, space.replay_expires_at = "", None
        space.save(update_fields=["replay", "replay_expires_at", "updated_at"])
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
    return space


def replays_expire(*, now=None) -> int:
    """Delete replays older than their keep period. Idempotent; the beat runs it hourly."""
    expired = Space.objects.filter(replay_expires_at__lte=now or timezone.now()).exclude(replay="")
    count = 0
    for space in expired:
        (Path(settings.MEDIA_ROOT) / space.replay).unlink(missing_ok=True)
        count += Space.objects.filter(pk=space.pk).exclude(replay="").update(replay="", replay_expires_at=None)
    return count
