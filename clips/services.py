"""Every change to clips, one function each: make one (the room), encode it (the worker), delete
one (host, staff or its creator), and let them go with their Space's replay.

Clips are no part of the room's event protocol: the person who clips is answered by the API and
follows their clip there; the Space's page lists the clips that are ready."""

import logging
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from rooms import throttles
from rooms.errors import Conflict, NotLive, NotParticipant, NotPermitted, Throttled
from rooms.identity import Visitor
from rooms.models import Space
from rooms.services.recording import recording_path
from spaces.celery import queue

from . import selectors, wav
from .models import Clip

logger = logging.getLogger(__name__)

CLIP_SECONDS = 30
# Less than this is not worth a link: a clip asked for in the first moments of a Space waits.
CLIP_MIN_SECONDS = 1.0
CLIP_BITRATE_KBPS = 32
ENCODE_TIMEOUT = 60


def clips_per_minute() -> throttles.Limit:
    return throttles.Limit("clip", settings.SPACES_CLIPS_PER_MINUTE, 60.0)


def clip_create(*, space: Space, visitor: Visitor) -> Clip:
    """Someone in a live, recorded Space clips the last ``CLIP_SECONDS`` of its mix.

    Refuses a Space that is not live (``not_live``) or not recorded (``not_recorded``), someone
    not in the room (``not_participant``), a recording with nothing in it yet (``nothing_recorded``)
    and more than ``SPACES_CLIPS_PER_MINUTE`` clips a minute from one person in one Space
    (``Throttled``). The row is written now with where the recording ends; the worker cuts and
    encodes it once this commits (``clips.tasks.clip_encode_task``)."""
    if space.state != Space.State.LIVE:
        raise NotLive("Only a live Space can be clipped; the replay holds what was said.")
    if not space.record:
        raise Conflict("This Space is not being recorded, so there is nothing to clip.", code="not_recorded")
    participant = selectors.present_participant(space=space, visitor=visitor)
    if participant is None:
        raise NotParticipant("Listen to the Space to clip it: press Listen first.")
    source = live_recording(space)
    try:
        fmt = wav.read_format(source)
        end = wav.audio_bytes(source, fmt)
    except (OSError, wav.NotAWav):
        end, fmt = 0, None
    if fmt is None or end < CLIP_MIN_SECONDS * fmt.byte_rate:
        raise Conflict("Nothing has been recorded yet; try again in a few seconds.", code="nothing_recorded")
    wait = throttles.hit(clips_per_minute(), f"{space.pk}:{participant.uid}")
    if wait:
        raise Throttled(
            f"At most {settings.SPACES_CLIPS_PER_MINUTE} clips a minute from you in this Space; try again shortly.",
            retry_after=throttles.retry_after(wait),
        )
    with transaction.atomic():
        clip = Clip.objects.create(
            space=space, creator=visitor.account, creator_anon="" if visitor.signed_in else visitor.anon_id,
            creator_name=participant.display_name, recording_end=end,
        )
        clip_id = clip.pk
        transaction.on_commit(lambda: queue("clips.tasks.clip_encode_task", clip_id))
    return clip


def live_recording(space: Space) -> Path:
    """The mix being written: the media server (Janus) writes ``<file>.tmp`` while the room is
    open and renames it when the room closes; the bytes already written stay where they were."""
    final = recording_path(space)
    growing = final.with_name(final.name + ".tmp")
    return growing if growing.exists() else final


def clip_path(clip: Clip) -> Path:
    return Path(settings.MEDIA_ROOT) / "clips" / f"clip-{clip.code}.ogg"


def clip_encode(*, clip_id: int) -> Clip | None:
    """Cut the clip's window out of the recording as it stands and encode it as Ogg Opus with
    ``opusenc``. Idempotent: only a pending clip is encoded, and a clip deleted meanwhile leaves
    no file behind."""
    clip = Clip.objects.select_related("space").filter(pk=clip_id).first()
    if clip is None or clip.state != Clip.State.PENDING:
        return clip
    source, target = live_recording(clip.space), clip_path(clip)
    try:
        fmt = wav.read_format(source)
        pcm, offset = wav.read_window(source, fmt, end=clip.recording_end, seconds=CLIP_SECONDS)
    except (OSError, wav.NotAWav) as error:
        logger.error("Clip %s of Space %s: no recording to cut (%s)", clip.code, clip.space.code, error)
        Clip.objects.filter(pk=clip.pk, state=Clip.State.PENDING).update(state=Clip.State.FAILED)
        return Clip.objects.filter(pk=clip.pk).first()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".ogg.part")
    done = subprocess.run(
        ["opusenc", "--quiet", "--raw", "--raw-bits", str(fmt.bits), "--raw-rate", str(fmt.rate),
         "--raw-chan", str(fmt.channels), "--raw-endianness", "0", "--bitrate", str(CLIP_BITRATE_KBPS),
         "--title", f"{clip.space.title} (clip)", "-", str(partial)],
        input=pcm, capture_output=True, timeout=ENCODE_TIMEOUT,
    )
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        logger.error("Encoding clip %s failed: %s", clip.code, done.stderr.decode(errors="replace").strip())
        Clip.objects.filter(pk=clip.pk, state=Clip.State.PENDING).update(state=Clip.State.FAILED)
        return Clip.objects.filter(pk=clip.pk).first()
    partial.replace(target)
    updated = Clip.objects.filter(pk=clip.pk, state=Clip.State.PENDING).update(
        state=Clip.State.READY, file=str(target.relative_to(settings.MEDIA_ROOT)),
        offset=offset, seconds=len(pcm) / fmt.byte_rate,
    )
    if not updated:
        target.unlink(missing_ok=True)  # deleted while it was being encoded
    return Clip.objects.filter(pk=clip.pk).first()


def clip_delete(*, clip: Clip, visitor: Visitor) -> None:
    """The Space's host or staff delete any clip, its creator their own: the row now, the file
    once that commits."""
    if not selectors.may_delete(clip, visitor):
        if not visitor.known:
            raise NotPermitted("Sign in as the host to delete this clip.", code="not_authenticated")
        raise NotPermitted("Only the host or the person who made this clip can delete it.")
    with transaction.atomic():
        _delete(Clip.objects.filter(pk=clip.pk))


def clips_remove_for_space(*, space: Space) -> int:
    """The Space's replay is gone (expired or deleted): its clips go with it."""
    return _delete(Clip.objects.filter(space=space))


def clips_expire(*, now=None) -> int:
    """The safety net of the hourly sweep: clips of Spaces that ended longer than a replay is
    kept ago and have no replay (never made, or its removal missed) go too. Idempotent."""
    ended_before = (now or timezone.now()) - settings.SPACES_REPLAY_KEEP
    with transaction.atomic():
        return _delete(Clip.objects.filter(space__ended_at__lte=ended_before, space__replay=""))


def clip_play_count(*, clip: Clip) -> None:
    """One more play: a fetch of the clip's audio from its first byte."""
    Clip.objects.filter(pk=clip.pk).update(plays=F("plays") + 1)


def _delete(clips) -> int:
    files = [Path(settings.MEDIA_ROOT) / name for name in clips.exclude(file="").values_list("file", flat=True)]
    count, _ = clips.delete()
    transaction.on_commit(lambda: [path.unlink(missing_ok=True) for path in files])
    return count
