from celery import shared_task

from . import services


@shared_task
def clip_encode_task(clip_id: int):
    clip = services.clip_encode(clip_id=clip_id)
    return clip.state if clip else None


@shared_task
def clips_expire_task():
    return services.clips_expire()
