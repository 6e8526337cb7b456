"""A link pinned for everyone in a live Space (X Spaces' "pin a post"): the host or a co-host
pins one http(s) address with an optional short label; it shows at the top of the room, is in the
snapshot for people who arrive later, and goes when they unpin it or the Space ends (the wire
shows ``pinned`` for a live Space only).

The address is shown to everyone as a link, so it is checked strictly here, the one way in: only
http and https with a host, no credentials in it, no spaces or control characters, at most
``PIN_URL_MAX`` characters. The page renders it with ``textContent`` and an ``href`` attribute
(never HTML), so a label cannot inject markup either.
"""

from urllib.parse import urlsplit

from django.db import transaction

from .. import events
from ..errors import InvalidInput, NotLive
from ..limits import PIN_LABEL_MAX, PIN_URL_MAX
from ..models import Space
from .access import require_room_staff
from .locks import lock_space
from .stage import not_live_detail


def pin_url_clean(url) -> str:
    """The address as it will be pinned, or ``InvalidInput`` saying what is wrong with it."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("Give the address of the link to pin, starting with https://.", code="invalid_pin_url")
    url = url.strip()
    if len(url) > PIN_URL_MAX:
        raise InvalidInput(f"That address is longer than {PIN_URL_MAX} characters.", code="invalid_pin_url")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidInput("An address cannot contain spaces or control characters.", code="invalid_pin_url")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise InvalidInput("That is not a web address.", code="invalid_pin_url") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise InvalidInput("Only http:// and https:// links can be pinned.", code="invalid_pin_url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("Remove the user name and password from the address.", code="invalid_pin_url")
    return url


def pin_label_clean(label) -> str:
    if label is None:
        return ""
    if not isinstance(label, str):
        raise InvalidInput("The label must be text.", code="invalid_pin_label")
    label = " ".join(label.split())  # one line: no newlines or runs of spaces
    if len(label) > PIN_LABEL_MAX:
        raise InvalidInput(f"Keep the label to {PIN_LABEL_MAX} characters.", code="invalid_pin_label")
    return label


def space_pin_link(*, space: Space, actor, url, label=None) -> Space:
    """Pin ``url`` (replacing any pinned link) for everyone in a live Space. Host and co-hosts.
    Publishes ``space.updated`` (the Space's ``pinned``)."""
    url, label = pin_url_clean(url), pin_label_clean(label)
    return _set_pin(space=space, actor=actor, url=url, label=label)


def space_unpin_link(*, space: Space, actor) -> Space:
    """Take the pinned link down. Host and co-hosts; nothing pinned is no error."""
    return _set_pin(space=space, actor=actor, url="", label="")


def _set_pin(*, space: Space, actor, url: str, label: str) -> Space:
    with transaction.atomic():
        space = lock_space(space)
        require_room_staff(space, actor)
        if space.state != Space.State.LIVE:
            raise NotLive(not_live_detail(space))
        if (space.pinned_url, space.pinned_label) == (url, label):
            return space
        space.pinned_url, space.pinned_label = url, label
        space.save(update_fields=["pinned_url", "pinned_label", "updated_at"])
        events.publish_on_commit(space, events.space_updated(space))
    return space

