"""Celery tasks of rooms: each loads ids, calls one service, and is idempotent because the
service is. ``acks_late`` (settings) keeps a task on the broker until it finished, so a worker
killed mid-task leaves it to be redelivered."""

from celery import shared_task
from django.core.management import call_command
from django.utils.dateparse import parse_datetime

from . import services
from .media import MediaError

# A media server that is slow, restarting or briefly unreachable: try again, a little later each
# time (1, 2, 4, 8, 16 s). Whatever is still off after that, the periodic reconcile repairs: it
# re-creates missing rooms, closes rooms of Spaces that are over and syncs every live room's stage.
media_task = shared_task(autoretry_for=(MediaError,), retry_backoff=1, retry_backoff_max=30, max_retries=5)


@shared_task
def sweep_due_spaces_task():
    return services.spaces_due_sweep()


@shared_task
def start_space_task(space_id: int, armed_for: str):
    return services.space_start_scheduled(space_id=space_id, armed_for=parse_datetime(armed_for)) is not None


@shared_task
def end_abandoned_spaces_task():
    return [space.pk for space in services.spaces_abandoned_end()]


@shared_task
def presence_sweep_task():
    return services.presence_sweep()


@shared_task
def replays_expire_task():
    return services.replays_expire()


# Encoding hours of audio takes longer than the default limit allows any task.
@shared_task(time_limit=3600, soft_time_limit=3300)
def replay_encode_task(space_id: int):
    return services.space_replay_encode(space_id=space_id).replay


@shared_task
def sessions_clear_task():
    # Django's own ``clearsessions``: every signed-out listener has a session, and expired ones
    # are otherwise never deleted.
    call_command("clearsessions")


@media_task
def media_room_open_task(space_id: int):
    return services.media_room_open(space_id=space_id)


@media_task
def media_room_close_task(space_id: int):
    return services.media_room_close(space_id=space_id)


@media_task
def media_room_sync_task(space_id: int):
    return services.media_room_sync(space_id=space_id)


@media_task
def media_join_check_task(room_id: int, media_id: int, session_id: int, handle_id: int):
    return services.media_join_check(room_id=room_id, media_id=media_id, session_id=session_id, handle_id=handle_id)


@media_task
def media_speaker_unmute_task(participant_id: int):
    return services.media_speaker_unmute(participant_id=participant_id)


@media_task
def media_listeners_repin_task(space_id: int):
    return services.media_listeners_repin(space_id=space_id)


@media_task
def media_sessions_revoke_task(holders: list[str]):
    return services.media_sessions_revoke(holders=holders)


@shared_task
def media_reconcile_task():
    return services.media_reconcile()
