"""Reads for the calendar side."""

from django.db.models import QuerySet

from .models import Notification


def notifications_for(*, user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).select_related("space")


def notifications_unread(*, user) -> QuerySet[Notification]:
    return notifications_for(user=user).filter(read_at__isnull=True)
