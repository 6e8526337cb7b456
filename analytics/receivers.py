"""How analytics follow a Space's life: when it ends, its counters are kept (``rooms.signals``),
in the same transaction as the end."""

from django.dispatch import receiver

from rooms import signals

from . import services


@receiver(signals.space_ended, dispatch_uid="analytics.tally_on_end")
def tally_on_end(sender, *, space, **kwargs):
    services.space_tally_close(space=space)
