"""Domain errors with stable codes.

Services raise these; ``rooms.api.errors`` maps them to HTTP responses and the websocket consumer
to ``error`` frames, in one place each. ``code`` is part of the public contract: never rename one.
"""


class SpaceError(Exception):
    """Base class: a rule said no. ``detail`` is a sentence a person can act on."""

    status = 400
    code = "invalid"
    default_detail = "The request could not be carried out."

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra):
        self.detail = detail or self.default_detail
        if code:
            self.code = code
        self.extra = extra
        super().__init__(self.detail)

    def as_dict(self) -> dict:
        return {"detail": self.detail, "code": self.code, **self.extra}


class InvalidInput(SpaceError):
    status = 400
    code = "invalid"


class InPast(InvalidInput):
    code = "in_the_past"


class TooFarAhead(InvalidInput):
    code = "too_far_ahead"


class NaiveDatetime(InvalidInput):
    code = "naive_datetime"


class NotPermitted(SpaceError):
    status = 403
    code = "permission_denied"
    default_detail = "You do not have permission to do that."


class NotFound(SpaceError):
    status = 404
    code = "not_found"
    default_detail = "No such Space or participant."


class Conflict(SpaceError):
    """The request is valid but the current state forbids it."""

    status = 409
    code = "conflict"


class OneScheduledSpace(Conflict):
    code = "one_scheduled_space"


class OneLiveSpace(Conflict):
    code = "one_live_space"


class SpeakerLimit(Conflict):
    code = "speaker_limit"


class CohostLimit(Conflict):
    code = "cohost_limit"


class NotLive(Conflict):
    code = "not_live"


class InvalidTransition(Conflict):
    code = "invalid_state"


class Removed(SpaceError):
    status = 403
    code = "removed"
    default_detail = "You were removed from this Space and cannot rejoin it."


class NotParticipant(Conflict):
    code = "not_participant"
    default_detail = "Join the Space first."


class Throttled(SpaceError):
    """Over a rate limit (``rooms.throttles``): ``retry_after`` says in how many seconds to try
    again (an HTTP 429 carries it as ``Retry-After``, a websocket error frame as ``retry_after``)."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None):
        super().__init__(detail, code=code, retry_after=retry_after)
        self.retry_after = retry_after


class TooManySockets(SpaceError):
    status = 429
    code = "too_many_sockets"
