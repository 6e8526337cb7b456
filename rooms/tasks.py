"""Celery tasks for the room side: thin calls into services."""

from celery import shared_task

from . import services


@shared_task
def media_reconcile_task():
    return services.media_reconcile()


@shared_task
def replays_expire_task():
    return services.replays_expire()
