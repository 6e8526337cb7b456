"""Replays: a recorded Space's mix, kept for SPACES_REPLAY_DAYS and deletable by its host.

Janus records the mix as WAV (about 5.5 MB a minute). When the Space is over, the worker encodes
it as Ogg Opus with opus-tools' ``opusenc`` (``REPLAY_BITRATE_KBPS``: 0.24 MB a minute, seekable,
played by every current browser) and drops the WAV; the end screens learn it from a
``space.updated`` frame."""

import logging
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from spaces.celery import queue

from .. import events, signals
from ..errors import Conflict
from ..models import Space
from .access import require_host_or_staff
from .locks import lock_space

logger = logging.getLogger(__name__)

# Speech and the odd jingle: Opus is transparent for voice well below this.
REPLAY_BITRATE_KBPS = 32
# opusenc runs at well over 100 times real time here: this allows a recording of many hours.
ENCODE_TIMEOUT = 3000


def recording_path(space: Space) -> Path:
    """Where the media server writes the Space's mix (WAV)."""
    return Path(settings.JANUS["RECORDINGS_DIR"]) / f"space-{space.code}.wav"


def replay_path(space: Space) -> Path:
    """The replay as it is kept and served: Ogg Opus."""
    return recording_path(space).with_suffix(".ogg")


def space_replay_attach(*, space_id: int, wait: float = 5.0) -> Space:
    """The room is gone: queue the encoding of its recording. The media server finishes the file
    when the room is destroyed, so wait a moment for it."""
    space = Space.objects.get(pk=space_id)
    path = recording_path(space)
    deadline = time.monotonic() + wait
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not path.exists():
        logger.warning("No recording found for Space %s at %s", space.code, path)
        return space
    queue("rooms.tasks.replay_encode_task", space.pk)
    space.refresh_from_db()
    return space


def space_replay_encode(*, space_id: int) -> Space:
    """Encode the recorded WAV as Ogg Opus and keep it as the Space's replay; the WAV goes.
    Idempotent: a second run finds no WAV and the replay already set. Locks the Space while it
    attaches the replay; publishes ``space.updated`` after commit."""
    space = Space.objects.get(pk=space_id)
    source, target = recording_path(space), replay_path(space)
    if not source.exists():
        return space
    partial = target.with_suffix(".ogg.part")
    done = subprocess.run(
        ["opusenc", "--quiet", "--bitrate", str(REPLAY_BITRATE_KBPS), "--title", space.title, str(source), str(partial)],
        capture_output=True, text=True, timeout=ENCODE_TIMEOUT,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        # The WAV stays the replay rather than nothing: it plays, only larger.
        logger.error("Encoding the replay of Space %s failed: %s", space.code, done.stderr.strip())
        target = source
    else:
        partial.replace(target)
    relative = target.relative_to(Path(settings.MEDIA_ROOT)) if target.is_relative_to(settings.MEDIA_ROOT) else target.name
    with transaction.atomic():
        space = lock_space(space)
        space.replay, space.replay_expires_at = str(relative), timezone.now() + settings.SPACES_REPLAY_KEEP
        space.save(update_fields=["replay", "replay_expires_at", "updated_at"])
        if target != source:
            transaction.on_commit(lambda: source.unlink(missing_ok=True))
        events.publish_on_commit(space, events.space_updated(space))
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
        events.publish_on_commit(space, events.space_updated(space))
        signals.replay_removed.send(sender=Space, space=space, reason="deleted")
    return space


def replays_expire(*, now=None) -> int:
    """Delete replays older than their keep period. Idempotent; the beat runs it hourly."""
    expired = Space.objects.filter(replay_expires_at__lte=now or timezone.now()).exclude(replay="")
    count = 0
    for space in expired:
        (Path(settings.MEDIA_ROOT) / space.replay).unlink(missing_ok=True)
        with transaction.atomic():
            removed = Space.objects.filter(pk=space.pk).exclude(replay="").update(replay="", replay_expires_at=None)
            if removed:
                signals.replay_removed.send(sender=Space, space=space, reason="expired")
        count += removed
    return count
