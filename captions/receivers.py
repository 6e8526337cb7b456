"""How a transcript follows its Space: it goes when the replay goes (``rooms.signals.replay_removed``)."""

from django.dispatch import receiver

from rooms import signals

from . import services


@receiver(signals.replay_removed, dispatch_uid="captions.remove_with_replay")
def remove_with_replay(sender, *, space, **kwargs):
    services.transcript_remove_for_space(space=space)
