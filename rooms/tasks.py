"""Celery tasks of rooms: each loads ids, calls one service, and is idempotent because the
service is. ``acks_late`` (settings) keeps a task on the broker until it finished, so a worker
killed mid-task leaves it to be redelivered."""

from celery import shared_task
from django.utils.dateparse import parse_datetime

from . import services
from .media import MediaError

# A media server that is slow, restarting or briefly unreachable: try again, a little later each
# time (1, 2, 4, 8, 16 s). The periodic reconcile re-creates missing rooms and closes rooms of
# Spaces that are over; it does not yet converge who is allowed or muted inside a live room, so a
# grant, revoke or mute that runs out of retries stays undone until that person's next change
# (tests/test_media_effects.py keeps this gap as an expected failure).
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


@media_task
def media_room_open_task(space_id: int):
    return services.media_room_open(space_id=space_id)


@media_task
def media_room_close_task(space_id: int):
    return services.media_room_close(space_id=space_id)


@media_task
def media_speaker_grant_task(participant_id: int, token: str):
    return services.media_speaker_grant(participant_id=participant_id, token=token)


@media_task
def media_speaker_revoke_task(room_id: int, token: str, participant_id: int):
    return services.media_speaker_revoke(room_id=room_id, token=token, participant_id=participant_id)


@media_task
def media_speaker_mute_task(participant_id: int):
    return services.media_speaker_mute(participant_id=participant_id)


@shared_task
def media_reconcile_task():
    return services.media_reconcile()
