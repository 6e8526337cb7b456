"""What a Space's fields may hold, as errors a person can act on. The limits themselves are
``rooms.limits``; the database holds the same ones as constraints."""

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.formats import date_format

from ..errors import InPast, InvalidInput, NaiveDatetime, TooFarAhead
from ..limits import DESCRIPTION_MAX, SCHEDULE_AHEAD_MAX, TITLE_MAX


def clean_title(title) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("Give the Space a title.", code="title_required")
    title = title.strip()
    if len(title) > TITLE_MAX:
        raise InvalidInput(
            f"Keep the title to {TITLE_MAX} characters (this one has {len(title)}).", code="title_too_long"
        )
    return title


def clean_description(description) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise InvalidInput("The description must be text.", code="description_invalid")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput(
            f"Keep the description to {DESCRIPTION_MAX} characters (this one has {len(description)}).",
            code="description_too_long",
        )
    return description


def clean_schedule_time(scheduled_for, *, now: datetime) -> datetime:
    """The time, in UTC, if it lies in the future and within the window from ``now``."""
    if not isinstance(scheduled_for, datetime):
        raise NaiveDatetime("Give the start time as an ISO-8601 date and time with a UTC offset.")
    if timezone.is_naive(scheduled_for):
        raise NaiveDatetime(
            "Give the start time with a UTC offset, e.g. 2026-12-01T18:00:00+01:00, "
            "so it means the same moment everywhere."
        )
    scheduled_for = scheduled_for.astimezone(UTC)
    if scheduled_for <= now:
        raise InPast("The start time is in the past; pick a time in the future.")
    latest = now + SCHEDULE_AHEAD_MAX
    if scheduled_for > latest:
        raise TooFarAhead(
            f"A Space can be scheduled at most {SCHEDULE_AHEAD_MAX.days} days ahead: the latest you can pick "
            f"now is {date_format(latest, 'DATETIME_FORMAT')} UTC ({latest.isoformat()}).",
            latest_allowed=latest.isoformat().replace("+00:00", "Z"),
        )
    return scheduled_for
