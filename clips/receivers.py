"""How clips follow their Space: they go when its replay goes (``rooms.signals.replay_removed``),
in the same transaction; files are unlinked once it commits."""

from django.dispatch import receiver

from rooms import signals

from . import services


@receiver(signals.replay_removed, dispatch_uid="clips.remove_with_replay")
def remove_with_replay(sender, *, space, **kwargs):
    services.clips_remove_for_space(space=space)
