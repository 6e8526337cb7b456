"""Row locks for services. Lock order, to keep concurrent services free of deadlocks: the Space
row first, then participant rows (several of them in primary-key order)."""

from ..models import Participant, Space


def lock_space(space: Space | int) -> Space:
    """Re-read the Space under a row lock (``SELECT ... FOR UPDATE``) for the current transaction."""
    pk = space.pk if isinstance(space, Space) else space
    return Space.objects.select_for_update(of=("self",)).select_related("host").get(pk=pk)


def lock_participant(participant: Participant) -> Participant:
    """Re-read a participant under a row lock. A signed-out listener who lived only in Redis
    (``rooms.guests``, an unsaved row) is acted on: from now on they are a row (under the same uid),
    written in the caller's transaction, which holds the Space's lock."""
    if participant.pk is None:
        participant, _ = Participant.objects.get_or_create(
            uid=participant.uid,
            defaults={
                "space_id": participant.space_id, "user": None, "anon_id": participant.anon_id,
                "display_name": participant.display_name, "address": participant.address,
                "role": Participant.Role.LISTENER,
            },
        )
    return Participant.objects.select_for_update(of=("self",)).select_related("user").get(pk=participant.pk)
