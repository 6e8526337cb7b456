"""Which Spaces have captions on, as the captions worker learns it without asking PostgreSQL.

A Redis set of Space ids, kept by ``captions.services.captions_set`` once its change commits. The
worker reads it every second: while it is empty (and the worker serves no Space) the worker makes
no SQL statement at all, and looks at the database only in its slow resync (``RESYNC_EVERY`` in
``captions.worker``), which also repairs the set (ids of Spaces that ended with captions on are
taken out, ids lost with a Redis restart put back). A Redis that does not answer makes the worker
look at the database as it did before the set existed."""

import logging

from rooms import presence

logger = logging.getLogger(__name__)


def key() -> str:
    return f"{presence._prefix()}:captions:on"


def mark(space_id: int, on: bool) -> None:
    """Called after the change commits. A Redis that fails is logged: the resync repairs it."""
    try:
        client = presence.sync_client()
        if on:
            client.sadd(key(), space_id)
        else:
            client.srem(key(), space_id)
    except Exception:
        logger.exception("Could not note that captions of Space %s are %s", space_id, "on" if on else "off")


def members(client) -> set[int]:
    """Space ids said to have captions on (raises the client's error when Redis does not answer)."""
    return {int(m) for m in client.smembers(key())}


def reconcile(client, seen: set[int], captioned: set[int]) -> None:
    """After a look at the database: ids ``seen`` in the set before that look whose Space is not
    captioned any more go; ``captioned`` ids are (re)added. Ids added meanwhile are left alone."""
    pipe = client.pipeline(transaction=False)
    stale = seen - captioned
    if stale:
        pipe.srem(key(), *stale)
    if captioned:
        pipe.sadd(key(), *captioned)
    pipe.execute()
