"""Who is asking: a signed-in account, or a signed-out listener known by an id kept in their
session. Pages, the API and the websocket all resolve the person here, the same way."""

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import signing

from spaces.clients import client_ip

ANON_ID_KEY = "listener_id"
ANON_LABEL_KEY = "listener_label"
TICKET_SALT = "rooms.identity.ws-ticket"


@dataclass(frozen=True)
class Visitor:
    """A signed-in ``user``, or a signed-out listener (``anon_id``, shown as ``anon_label``).

    A visitor with neither is someone we cannot recognise again (no session yet): they may read,
    but cannot join.
    """

    user: object = None
    anon_id: str = ""
    anon_label: str = ""

    @property
    def signed_in(self) -> bool:
        return self.user is not None and self.user.is_authenticated

    @property
    def known(self) -> bool:
        return self.signed_in or bool(self.anon_id)

    @property
    def account(self):
        """The user, or None for a signed-out visitor (what services take as ``actor``)."""
        return self.user if self.signed_in else None

    @property
    def name(self) -> str:
        return self.user.get_username() if self.signed_in else self.anon_label or "Listener"

    @classmethod
    def of(cls, user) -> "Visitor":
        return cls(user=user)

    @classmethod
    def anonymous(cls, anon_id: str, anon_label: str = "") -> "Visitor":
        return cls(anon_id=anon_id, anon_label=anon_label)


def visitor_from(user, session, *, create: bool) -> Visitor:
    """The visitor behind ``user`` and ``session`` (either may be missing). With ``create``, a
    signed-out visitor's session is given a listener id and label ("Listener 4821") if it has none;
    the caller saves the session (Django's middleware does for requests)."""
    if user is not None and user.is_authenticated:
        return Visitor(user=user)
    if session is None:
        return Visitor(user=AnonymousUser())
    anon_id, label = session.get(ANON_ID_KEY, ""), session.get(ANON_LABEL_KEY, "")
    if (not anon_id or not label) and create:
        anon_id = secrets.token_urlsafe(12)
        label = f"Listener {secrets.randbelow(9000) + 1000}"
        session[ANON_ID_KEY], session[ANON_LABEL_KEY] = anon_id, label
    return Visitor(user=AnonymousUser(), anon_id=anon_id, anon_label=label)


def visitor_for_request(request, *, create: bool = False) -> Visitor:
    """The visitor of an HTTP request (page or API; session or token auth)."""
    return visitor_from(getattr(request, "user", None), getattr(request, "session", None), create=create)


def ws_ticket(visitor: Visitor) -> str:
    """A signed ticket naming a signed-out listener, which the share page hands its websocket
    (``?ticket=``): a browser that sends no cookie with the websocket is still the same listener.
    Good for ``SPACES_WS_TICKET_MAX_AGE`` seconds; empty for anyone else."""
    if visitor.signed_in or not visitor.anon_id:
        return ""
    return signing.dumps([visitor.anon_id, visitor.anon_label], salt=TICKET_SALT, compress=False)


def visitor_from_ticket(ticket: str) -> Visitor | None:
    """The signed-out listener a ticket names, or None for a forged, altered or expired one."""
    try:
        anon_id, label = signing.loads(ticket, salt=TICKET_SALT, max_age=settings.SPACES_WS_TICKET_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(anon_id, str) or not isinstance(label, str) or not anon_id:
        return None
    return Visitor.anonymous(anon_id, label)


def visitor_for_scope(scope) -> Visitor:
    """The visitor of a websocket: from its session (a stored one: a made-up cookie counts as
    none), else from a share page's ``ticket``. A signed-out listener's session is given a listener
    id if it has none (saved here: there is no response to save it). Without either, the visitor
    is unknown: they may watch, but their socket does not make anyone present, so connecting
    again and again makes no new listeners."""
    session = scope.get("session")
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return Visitor(user=user)
    if session is not None and session.session_key:
        visitor = visitor_from(user, session, create=False)
        # Reading a session whose key is not stored clears the key: it was never issued.
        if session.session_key:
            if not visitor.anon_id:
                visitor = visitor_from(user, session, create=True)
                session.save()
            return visitor
    ticket = parse_qs(scope.get("query_string", b"").decode(errors="replace")).get("ticket", [""])[0]
    return (visitor_from_ticket(ticket) if ticket else None) or Visitor(user=AnonymousUser())


class _ScopeRequest:
    """Just enough of a request for ``spaces.clients.client_ip``."""

    def __init__(self, scope):
        client = scope.get("client") or ("", 0)
        headers = dict(scope.get("headers") or [])
        self.META = {"REMOTE_ADDR": client[0] or ""}
        forwarded = headers.get(b"x-forwarded-for")
        if forwarded:
            self.META["HTTP_X_FORWARDED_FOR"] = forwarded.decode("latin-1")


def client_of_scope(scope) -> str:
    """The client's address for a websocket, worked out as for an HTTP request."""
    return client_ip(_ScopeRequest(scope))
