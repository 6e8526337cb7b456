"""Reads for the calendar side."""

from django.db.models import QuerySet

from rooms.models import Space

from .models import Notification, PushSubscription, Reminder


def reminders_upcoming(*, user) -> QuerySet[Reminder]:
    """The reminders a person set on Spaces that have not started yet, soonest first."""
    return (
        Reminder.objects.filter(user=user, space__state=Space.State.SCHEDULED)
        .select_related("space", "space__host")
        .order_by("space__scheduled_for")
    )


def push_subscription_count(*, user) -> int:
    return PushSubscription.objects.filter(user=user).count()


def notifications_for(*, user) -> QuerySet[Notification]:
    """A person's notifications, without those whose news stopped being true."""
    return Notification.objects.filter(user=user, obsolete_at__isnull=True).select_related("space")


def notifications_unread(*, user) -> QuerySet[Notification]:
    return notifications_for(user=user).filter(read_at__isnull=True)
