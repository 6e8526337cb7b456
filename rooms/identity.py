"""Who is asking: a signed-in user, or a signed-out listener known by an id in their session."""

import secrets

ANON_ID_KEY = "listener_id"
ANON_LABEL_KEY = "listener_label"


def anonymous_identity(session) -> tuple[str, str]:
    """The session's listener id and label ("Listener 4821"), created on first use."""
    anon_id = session.get(ANON_ID_KEY)
    label = session.get(ANON_LABEL_KEY)
    if not anon_id or not label:
        anon_id = secrets.token_urlsafe(12)
        label = f"Listener {secrets.randbelow(9000) + 1000}"
        session[ANON_ID_KEY] = anon_id
        session[ANON_LABEL_KEY] = label
    return anon_id, label


def existing_anonymous_id(session) -> str:
    """The session's listener id if it has one, without creating it."""
    return session.get(ANON_ID_KEY, "") if session is not None else ""
