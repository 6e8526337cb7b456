"""Which Spaces have captions on, as Redis knows it, so that neither the captions worker (once a
second: which Spaces to serve) nor the media layer's reconcile (every 2 s, each live room: does its
mix go to the worker, ``captions.forwarding``) asks PostgreSQL for it.

One Redis hash: media room id -> Space id for every live Space with captions on, and the field
``synced``, written by each look the worker takes at the database. ``captions.services.captions_set``
adds or removes its Space once the change commits.

A hash without ``synced`` cannot be trusted: Redis lost it (restarted, flushed) or no worker has
built it yet. Its readers then ask the database instead: the forwards function answers that one
room from PostgreSQL, as it did before the hash existed, and the worker takes its look at the
database at once, which rebuilds the hash. The worker also keeps it right: it looks at the database
each second while the hash names any Space (taking out Spaces that ended with captions on, and an
id a racing write put back) and every ``RESYNC_EVERY`` while it names none (putting back a Space
whose mark was lost). A Redis that does not answer makes both ask the database."""

import logging

from rooms import presence

logger = logging.getLogger(__name__)

SYNCED = "synced"


def key() -> str:
    return f"{presence._prefix()}:captions:rooms"


def mark(space_id: int, room_id: int | None, on: bool) -> None:
    """Called after the change commits. A Redis that fails is logged: the worker's look repairs it."""
    if room_id is None:
        return  # not live: the forward is only asked for live Spaces' rooms
    try:
        client = presence.sync_client()
        if on:
            client.hset(key(), room_id, space_id)
        else:
            client.hdel(key(), room_id)
    except Exception:
        logger.exception("Could not note that captions of Space %s are %s", space_id, "on" if on else "off")


def read(client) -> dict[int, int] | None:
    """Room id -> Space id of the captioned Spaces; None if the hash cannot be trusted (no
    ``synced``). Raises the client's error when Redis does not answer."""
    entries = client.hgetall(key())
    if SYNCED.encode() not in entries:
        return None
    return {int(room): int(space) for room, space in entries.items() if room != SYNCED.encode()}


def room_captioned(client, room_id: int) -> bool | None:
    """Does media room ``room_id`` belong to a captioned Space? One Redis command; None if the hash
    cannot be trusted. Raises the client's error when Redis does not answer."""
    space, synced = client.hmget(key(), [room_id, SYNCED])
    if synced is None:
        return None
    return space is not None


def reconcile(client, seen: dict[int, int] | None, captioned: dict[int, int]) -> None:
    """After a look at the database (``captioned``: room id -> Space id): rooms ``seen`` in the hash
    before that look whose Space is not captioned any more go; ``captioned`` ones are (re)added, and
    the hash is marked ``synced``. Rooms added meanwhile are left alone."""
    pipe = client.pipeline(transaction=False)
    stale = set(seen or ()) - set(captioned)
    if stale:
        pipe.hdel(key(), *stale)
    pipe.hset(key(), mapping={**captioned, SYNCED: 1})
    pipe.execute()
