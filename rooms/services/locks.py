"""Row locks for services. Lock order, to keep concurrent services free of deadlocks: the Space
row first, then participant rows (several of them in primary-key order)."""

from ..models import Participant, Space


def lock_space(space: Space | int) -> Space:
    """Re-read the Space under a row lock (``SELECT ... FOR UPDATE``) for the current transaction."""
    pk = space.pk if isinstance(space, Space) else space
    return Space.objects.select_for_update(of=("self",)).select_related("host").get(pk=pk)


def lock_participant(participant: Participant) -> Participant:
    return Participant.objects.select_for_update(of=("self",)).select_related("user").get(pk=participant.pk)
