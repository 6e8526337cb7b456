"""Making the media server obey the database.

The database holds the desired state of every live Space's audio: who is on stage (with the
secret and the id the server gave each seat), who the host muted, and the PIN of the listeners'
mountpoint. ``media_room_sync`` makes a room match it: anyone in the mix who is not a current
speaker under their own id is put out (duplicates, impostors, the demoted), everyone the host muted
is muted, and only current speakers' secrets open the room. It runs after every change of the
stage, on every Janus event that can change the mix (joined, configured, left: see
``rooms.janus_events``) and periodically (``media_reconcile``), so a client that misbehaves is
undone within moments, whatever it sends.

A service that changes the stage calls one of the ``*_on_commit`` functions inside its
transaction; once it commits, a Celery task (``rooms.tasks``) does the media work. Web and
websocket threads never wait on the media server. Each task re-reads the database, so tasks that
run late, twice or out of order do no harm.
"""

import logging
import secrets
from contextlib import contextmanager

import redis
from django.conf import settings
from django.db import transaction

from spaces.celery import queue

from .. import media, presence
from ..models import Participant, Space
from .recording import recording_path, space_replay_attach

logger = logging.getLogger(__name__)
State = Space.State
# Janus ids are integers; under 2**52 they survive JavaScript's numbers.
MEDIA_ID_LIMIT = 2**52


def new_speaker_token() -> str:
    """A secret a speaker presents to the media server; a fresh one for every seat on stage."""
    return secrets.token_urlsafe(24)


def new_media_id() -> int:
    return 1 + secrets.randbelow(MEDIA_ID_LIMIT - 1)


def seat_on_stage(participant: Participant) -> list[str]:
    """Give someone coming on stage a fresh secret and server-assigned id; returns the fields."""
    participant.media_token = new_speaker_token()
    participant.media_id = new_media_id()
    return ["media_token", "media_id"]


def clear_seat(participant: Participant) -> list[str]:
    participant.media_token = ""
    participant.media_id = None
    return ["media_token", "media_id"]


def _queue_on_commit(task: str, *args) -> None:
    """Queue ``rooms.tasks.<task>`` once the transaction commits. Queued by name: the tasks
    import the services, never the other way round. A broker that is down loses the call; the
    periodic reconcile then brings every live room back to what the database says."""

    def send():
        try:
            queue(f"rooms.tasks.{task}", *args)
        except Exception:
            logger.exception("Could not queue media task %s%s", task, args)

    transaction.on_commit(send)


def room_open_on_commit(space: Space) -> None:
    """Give a Space that goes live a random media room id and listeners' PIN; the room is made
    once this commits."""
    room_id = new_media_id()
    while Space.objects.filter(media_room_id=room_id).exists():  # 2**52 ids: practically never
        room_id = new_media_id()
    space.media_room_id, space.media_pin = room_id, secrets.token_hex(16)
    space.save(update_fields=["media_room_id", "media_pin"])
    _queue_on_commit("media_room_open_task", space.pk)


def room_close_on_commit(space: Space) -> None:
    if space.media_room_id:
        _queue_on_commit("media_room_close_task", space.pk)


def stage_changed_on_commit(space: Space) -> None:
    """Someone came on stage or was muted: the room follows."""
    if space.media_room_id:
        _queue_on_commit("media_room_sync_task", space.pk)


def speaker_revoke_on_commit(space: Space, participant: Participant) -> None:
    """Call before the seat is cleared: the room drops their secret and id, and their Janus
    sessions are ended."""
    if space.media_room_id:
        _queue_on_commit("media_room_sync_task", space.pk)
        if participant.media_id:
            _queue_on_commit("media_sessions_revoke_task", [media.speaker_holder(participant.media_id)])


def listener_revoke_on_commit(space: Space, participant: Participant) -> None:
    """A removed or blocked person: the mountpoint's PIN changes (so what they hold no longer opens
    it) and their Janus sessions are ended. Everyone else keeps listening; their next credentials
    carry the new PIN."""
    if not space.media_room_id:
        return
    space.media_pin = secrets.token_hex(16)
    space.save(update_fields=["media_pin"])
    _queue_on_commit("media_listeners_repin_task", space.pk)
    _queue_on_commit("media_sessions_revoke_task", [media.listener_holder(participant.uid)])


def speaker_mute_on_commit(space: Space, participant: Participant) -> None:
    """The host muted (the sync mutes them in the mix) or unmuted them (lifted in the mix)."""
    if not space.media_room_id:
        return
    if participant.muted:
        stage_changed_on_commit(space)
    else:
        _queue_on_commit("media_speaker_unmute_task", participant.pk)


def mix_changed(*, room_id: int, joined: int | None = None, session_id: int | None = None, handle_id: int | None = None) -> None:
    """The media server says a room's mix changed (someone joined, reconfigured themself, left):
    queue the check that brings it back in line. Called from Janus's event posts, outside any
    transaction; a queue that is down is left to the periodic reconcile."""
    space_id = Space.objects.filter(media_room_id=room_id, state=State.LIVE).values_list("pk", flat=True).first()
    if space_id is None:
        return
    try:
        if joined is not None and session_id is not None and handle_id is not None:
            queue("rooms.tasks.media_join_check_task", room_id, joined, session_id, handle_id)
        else:
            queue("rooms.tasks.media_room_sync_task", space_id)
    except Exception:
        logger.exception("Could not queue the media check of Space %s", space_id)


# --- what the tasks do (each raises MediaError for the task to retry) --------------------------


@contextmanager
def room_lock(space_id: int):
    """One piece of media work on a room at a time, each reading the stage inside the lock: a sync
    that read the stage before a promotion cannot finish after that promotion's own sync and take
    the new speaker's secret away again (or kick them)."""
    key = f"{settings.CACHES['default'].get('KEY_PREFIX', 'spaces')}:media-room:{space_id}"
    try:
        lock = presence.sync_client().lock(key, timeout=60, blocking_timeout=30)
        acquired = lock.acquire()
    except redis.RedisError as error:
        raise media.MediaError(f"Could not lock media room of Space {space_id}: {error}") from error
    if not acquired:
        raise media.MediaError(f"The media room of Space {space_id} is busy.")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.RedisError:
            pass  # expired (a very slow media server): the next sync does the work again


def _live(space_id: int) -> Space | None:
    space = Space.objects.filter(pk=space_id).first()
    if space is None or space.state != State.LIVE or not space.media_room_id or not media.enabled():
        return None
    return space


def _stage(space: Space) -> tuple[dict[int, bool], list[str]]:
    """What the room should be: speakers' ids (-> muted by the host) and their secrets."""
    seats = space.participants.on_stage().exclude(media_token="").filter(media_id__isnull=False)
    rows = list(seats.values_list("media_id", "muted", "media_token"))
    return {media_id: muted for media_id, muted, _ in rows}, [token for _, _, token in rows]


def media_room_open(*, space_id: int) -> bool:
    """Create (or complete) a live Space's media room, with everyone on stage allowed in."""
    with room_lock(space_id):
        space = _live(space_id)
        if space is None:
            return False
        _, tokens = _stage(space)
        record_file = None
        if space.record:
            recording_path(space).parent.mkdir(parents=True, exist_ok=True)
            record_file = str(recording_path(space))
        media.media_server().room_open(room_id=space.media_room_id, allowed=tokens, pin=space.media_pin, record_file=record_file)
        return True


def media_room_close(*, space_id: int) -> bool:
    """Destroy an ended Space's media room; a recorded Space's mix then becomes its replay."""
    space = Space.objects.filter(pk=space_id).first()
    if space is None or space.state == State.LIVE or not space.media_room_id or not media.enabled():
        return False
    media.media_server().room_close(room_id=space.media_room_id)
    if space.record:
        space_replay_attach(space_id=space.pk)
    return True


def media_room_sync(*, space_id: int) -> dict | None:
    """Make a live Space's mix match its stage (see the module's docstring)."""
    with room_lock(space_id):
        space = _live(space_id)
        if space is None:
            return None
        speakers, tokens = _stage(space)
        done = media.media_server().room_sync(room_id=space.media_room_id, speakers=speakers, allowed=tokens)
    if done.get("kicked") or done.get("muted"):
        logger.info("Space %s: media room corrected %s", space.code, done)
    return done


def media_join_check(*, room_id: int, media_id: int, session_id: int, handle_id: int) -> dict | None:
    """Someone joined a room's mix as ``media_id``. Unless that id is a current speaker's and the
    Janus handle they joined from was opened with that very speaker's token, their Janus session is
    ended at once and the id kicked; then the room is brought in line."""
    space = Space.objects.filter(media_room_id=room_id, state=State.LIVE).first()
    if space is None or not media.enabled():
        return None
    server = media.media_server()
    holder = server.holder_of(session_id=session_id, handle_id=handle_id)
    with room_lock(space.pk):
        speakers, _ = _stage(space)
    if holder is not None and (media_id not in speakers or holder != media.speaker_holder(media_id)):
        logger.warning("Space %s: %s joined the mix as %s; put out", space.code, holder, media_id)
        server.session_end(session_id=session_id)
        server.speaker_kick(room_id=room_id, participant_id=media_id)
    return media_room_sync(space_id=space.pk)


def media_speaker_unmute(*, participant_id: int) -> bool:
    """The host lifted a speaker's mute: lift it in the mix, if it is still lifted now and the
    speaker has not muted themself (theirs to lift, from their own browser)."""
    participant = Participant.objects.select_related("space").filter(pk=participant_id).first()
    if participant is None or participant.muted or participant.self_muted:
        return False
    if not participant.media_id or _live(participant.space_id) is None:
        return False
    media.media_server().speaker_unmute(room_id=participant.space.media_room_id, participant_id=participant.media_id)
    return True


def media_listeners_repin(*, space_id: int) -> bool:
    space = _live(space_id)
    if space is None:
        return False
    media.media_server().listeners_repin(room_id=space.media_room_id, pin=space.media_pin)
    return True


def media_sessions_revoke(*, holders: list[str]) -> int:
    if not media.enabled():
        return 0
    return media.media_server().revoke_sessions(holders=holders)


def media_reconcile() -> dict:
    """Make the media server match the database: a room, mountpoint (with the current PIN) and
    forward for every live Space (after a media server restart, say) with its stage in line, none
    for Spaces that are over. Idempotent; the beat runs it every few seconds. (A removed
    listener's Janus sessions whose revoke task ran out of retries are not looked for again: the
    new PIN keeps them from watching anew, and their stream is the one the share link gives
    anyone.)"""
    if not media.enabled():
        return {"reachable": False}
    server = media.media_server()
    try:
        existing = server.rooms()
    except media.MediaError:
        return {"reachable": False}
    live = dict(Space.objects.filter(state=State.LIVE, media_room_id__isnull=False).values_list("media_room_id", "pk"))
    opened, corrected, failed = [], 0, []
    for room, space_id in live.items():
        try:
            # Opening is idempotent and repairing (a PIN change or a forward that was lost).
            media_room_open(space_id=space_id)
            if room not in existing.speakers or room not in existing.listeners:
                opened.append(space_id)
            done = media_room_sync(space_id=space_id) or {}
        except media.MediaError as error:
            # One room that fails (or a server going away mid-run) does not stop the others; the
            # next run tries again.
            logger.warning("Reconcile could not bring Space %s's media in line: %s", space_id, error)
            failed.append(space_id)
            continue
        corrected += len(done.get("kicked", [])) + len(done.get("muted", []))
    over = Space.objects.filter(media_room_id__in=existing.speakers | existing.listeners).exclude(state=State.LIVE)
    closed = []
    for space_id in over.values_list("pk", flat=True):
        try:
            # As the end's own task would have: a recorded Space's mix becomes its replay.
            media_room_close(space_id=space_id)
            closed.append(space_id)
        except media.MediaError as error:
            logger.warning("Reconcile could not close the media room of Space %s: %s", space_id, error)
    return {"reachable": True, "opened": len(opened), "closed": len(closed), "corrected": corrected, "failed": len(failed)}
