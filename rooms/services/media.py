"""Making the media server follow the database.

A service that changes who may speak, or who is muted, calls one of the ``*_on_commit``
functions inside its transaction; once it commits, a Celery task (``rooms.tasks``) carries the
change to the media server. Web and websocket threads never wait on the media server: a slow or
dead one delays audio changes, never pages or frames. Each task re-reads what the database wants
now, so tasks that run late, twice or out of order do no harm (a grant for a token that was
revoked meanwhile is skipped), and ``media_reconcile`` repairs the rooms themselves periodically.
"""

import logging
import secrets

from django.db import transaction

from spaces.celery import queue

from .. import media
from ..models import Participant, Space
from .recording import recording_path, space_replay_attach

logger = logging.getLogger(__name__)
State = Space.State


def new_speaker_token() -> str:
    """A secret a speaker presents to the media server; a fresh one for every seat on stage."""
    return secrets.token_urlsafe(24)


def _queue_on_commit(task: str, *args) -> None:
    """Queue ``rooms.tasks.<task>`` once the transaction commits. Queued by name: the tasks
    import the services, never the other way round. A broker that is down loses the call; the
    periodic reconcile opens and closes rooms again, and the next change of a person repeats theirs."""

    def send():
        try:
            queue(f"rooms.tasks.{task}", *args)
        except Exception:
            logger.exception("Could not queue media task %s%s", task, args)

    transaction.on_commit(send)


def room_open_on_commit(space: Space) -> None:
    """Give a Space that goes live its media room id now; the room is made once this commits."""
    space.media_room_id = space.pk
    space.save(update_fields=["media_room_id"])
    _queue_on_commit("media_room_open_task", space.pk)


def room_close_on_commit(space: Space) -> None:
    if space.media_room_id:
        _queue_on_commit("media_room_close_task", space.pk)


def speaker_grant_on_commit(space: Space, participant: Participant) -> None:
    if space.media_room_id and participant.media_token:
        _queue_on_commit("media_speaker_grant_task", participant.pk, participant.media_token)


def speaker_revoke_on_commit(space: Space, participant: Participant) -> None:
    """Call before the participant's token is cleared: the revoke needs it."""
    if space.media_room_id:
        _queue_on_commit("media_speaker_revoke_task", space.media_room_id, participant.media_token, participant.pk)


def speaker_mute_on_commit(space: Space, participant: Participant) -> None:
    """Also for a speaker who (re)joined the mix: the server-side mute is applied again."""
    if space.media_room_id:
        _queue_on_commit("media_speaker_mute_task", participant.pk)


# --- what the tasks do (each raises MediaError for the task to retry) --------------------------


def media_room_open(*, space_id: int) -> bool:
    """Create (or complete) a live Space's media room, with everyone on stage allowed in."""
    space = Space.objects.filter(pk=space_id).first()
    if space is None or space.state != State.LIVE or not space.media_room_id or not media.enabled():
        return False
    tokens = list(space.participants.on_stage().exclude(media_token="").values_list("media_token", flat=True))
    record_file = None
    if space.record:
        recording_path(space).parent.mkdir(parents=True, exist_ok=True)
        record_file = str(recording_path(space))
    media.media_server().room_open(room_id=space.media_room_id, allowed=tokens, record_file=record_file)
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


def media_speaker_grant(*, participant_id: int, token: str) -> bool:
    """Let a new speaker into the mix, if that token is still theirs and they are still on stage."""
    participant = Participant.objects.select_related("space").filter(pk=participant_id).first()
    if (
        participant is None
        or participant.media_token != token
        or not participant.is_speaking_role
        or participant.space.state != State.LIVE
        or not media.enabled()
    ):
        return False
    media.media_server().speaker_grant(room_id=participant.space.media_room_id, token=token)
    return True


def media_speaker_revoke(*, room_id: int, token: str, participant_id: int) -> bool:
    """Take a former speaker's token off the room and put them out of the mix. Always safe."""
    if not media.enabled():
        return False
    media.media_server().speaker_revoke(room_id=room_id, token=token, participant_id=participant_id)
    return True


def media_speaker_mute(*, participant_id: int) -> bool:
    """Make the server-side mute match the participant's ``muted`` as it is now."""
    participant = Participant.objects.select_related("space").filter(pk=participant_id).first()
    if participant is None or participant.space.state != State.LIVE or not media.enabled():
        return False
    media.media_server().speaker_mute(
        room_id=participant.space.media_room_id,
        participant_id=participant.pk,
        muted=participant.muted and participant.is_speaking_role,
    )
    return True


def media_reconcile() -> dict:
    """Make the media server's rooms match the database: a room for every live Space (after a
    media server restart, say), none for Spaces that are over. Idempotent; run periodically."""
    if not media.enabled():
        return {"reachable": False}
    try:
        existing = media.media_server().rooms()
    except media.MediaError:
        return {"reachable": False}
    live = dict(Space.objects.filter(state=State.LIVE, media_room_id__isnull=False).values_list("media_room_id", "pk"))
    opened = [space_id for room, space_id in live.items() if room not in existing.speakers or room not in existing.listeners]
    for space_id in opened:
        media_room_open(space_id=space_id)
    over = Space.objects.filter(media_room_id__in=existing.speakers | existing.listeners).exclude(state=State.LIVE)
    closed = list(over.values_list("media_room_id", flat=True))
    for room_id in closed:
        media.media_server().room_close(room_id=room_id)
    return {"reachable": True, "opened": len(opened), "closed": len(closed)}

