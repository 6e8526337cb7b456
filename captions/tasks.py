from celery import shared_task

from . import services


@shared_task
def transcripts_expire_task():
    return services.transcripts_expire()
