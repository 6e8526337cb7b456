"""How the calendar's side follows a Space's life: receivers of the hooks ``rooms`` fires
(``rooms.signals``), connected in ``SchedulingConfig.ready``. Each runs inside the transaction
that made the change: notifications are written with it, and tasks are queued once it commits."""

from django.db import transaction
from django.dispatch import receiver

from rooms import signals

from . import services
from .models import Notification


@receiver(signals.space_went_live, dispatch_uid="scheduling.remind_on_live")
def remind_on_live(sender, *, space, by_schedule: bool, **kwargs):
    """Once the start commits, a task tells the people with reminders, and the host if the
    schedule started it (``services.space_started_notify``)."""
    services.notifications_obsolete(space=space, kinds=services.OBSOLETE_WHEN_LIVE)
    if by_schedule or space.reminders.exists():
        space_id = space.pk
        transaction.on_commit(lambda: services.queue("notify_space_started_task", space_id))


@receiver(signals.space_cancelled, dispatch_uid="scheduling.obsolete_on_cancel")
def obsolete_on_cancel(sender, *, space, **kwargs):
    """"Starts in 10 minutes" is no longer true of a cancelled Space."""
    services.notifications_obsolete(space=space, kinds=services.OBSOLETE_WHEN_CANCELLED)


@receiver(signals.space_missed, dispatch_uid="scheduling.tell_host_missed")
def tell_host_missed(sender, *, space, **kwargs):
    services.notifications_obsolete(space=space, kinds=services.OBSOLETE_WHEN_CANCELLED)
    services.notification_add(
        user=space.host,
        space=space,
        kind=Notification.Kind.SPACE_MISSED,
        message=f"“{space.title}” could not start on time and was marked missed. Schedule it again when you are ready.",
    )


@receiver(signals.space_ended, dispatch_uid="scheduling.tell_host_ended")
def tell_host_ended(sender, *, space, reason: str, limit=None, **kwargs):
    """Notices that it is live (or soon) are obsolete once it ended. The host hears when the
    system ended their Space; not when they ended it themselves."""
    services.notifications_obsolete(space=space, kinds=services.OBSOLETE_WHEN_ENDED)
    if reason not in ("abandoned", "host_never_came"):
        return
    minutes = round(limit.total_seconds() / 60) if limit else 0
    message = (
        f"“{space.title}” ended because its host did not come within {minutes} minutes of its start."
        if reason == "host_never_came"
        else f"“{space.title}” ended because no host was in it for {minutes} minutes."
    )
    services.notification_add(user=space.host, space=space, kind=Notification.Kind.SPACE_ENDED, message=message)
