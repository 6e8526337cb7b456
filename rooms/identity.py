"""Who is asking: a signed-in account, or a signed-out listener known by an id kept in their
session. Pages, the API and the websocket all resolve the person here, the same way."""

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser

ANON_ID_KEY = "listener_id"
ANON_LABEL_KEY = "listener_label"


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


def visitor_for_scope(scope) -> Visitor:
    """The visitor of a websocket. A signed-out visitor with a session gets a listener id in it
    (saved here: there is no response to save it); one without a session (a script, or cookies
    off) is a listener for this connection only."""
    session = scope.get("session")
    if session is None or not session.session_key:
        return visitor_from(scope.get("user"), {}, create=True)
    visitor = visitor_from(scope.get("user"), session, create=True)
    if session.modified:
        session.save()
    return visitor
