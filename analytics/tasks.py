from celery import shared_task

from . import services


@shared_task
def listeners_sample_task():
    return services.listeners_sample()
