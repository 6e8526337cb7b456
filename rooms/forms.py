"""Dashboard forms. They only collect and shape input; the services decide, and their errors are
put back on the form next to the field they are about."""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.utils.html import format_html

from .errors import SpaceError
from .limits import DESCRIPTION_MAX, SCHEDULE_AHEAD_MAX, TITLE_MAX

# Which form field a service error belongs next to.
ERROR_FIELDS = {
    "title_required": "title",
    "title_too_long": "title",
    "description_too_long": "description",
    "description_invalid": "description",
    "in_the_past": "scheduled_for",
    "too_far_ahead": "scheduled_for",
    "naive_datetime": "scheduled_for",
}


class ServiceErrorsMixin:
    def add_service_error(self, error: SpaceError) -> None:
        space = error.extra.get("space")
        message = error.detail
        if space:
            message = format_html('{} <a href="{}">Open “{}”</a>.', error.detail, space["url"], space["title"])
        field = ERROR_FIELDS.get(error.code)
        self.add_error(field if field in self.fields else None, message)


class LocalTimeMixin:
    """A ``scheduled_for`` picked in the person's own time zone (sent by the page as ``timezone``)
    becomes an aware datetime; the services store it in UTC."""

    def clean(self):
        data = super().clean()
        raw, zone = data.get("scheduled_for"), data.get("timezone") or "UTC"
        if not raw:
            return data
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            self.add_error("timezone", "Your browser sent a time zone we do not know; refresh and try again.")
            return data
        for pattern in ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
            try:
                data["scheduled_for"] = datetime.strptime(raw, pattern).replace(tzinfo=tz)
                break
            except ValueError:
                continue
        else:
            self.add_error("scheduled_for", "Pick a date and a time.")
        return data


def scheduled_for_field():
    return forms.CharField(
        label="Starts at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        help_text=f"In your time zone. At most {SCHEDULE_AHEAD_MAX.days} days ahead.",
    )


class StartForm(ServiceErrorsMixin, forms.Form):
    title = forms.CharField(max_length=TITLE_MAX, help_text=f"Up to {TITLE_MAX} characters.")
    description = forms.CharField(
        max_length=DESCRIPTION_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"Optional, up to {DESCRIPTION_MAX} characters."
    )
    record = forms.BooleanField(required=False, label="Record this Space for a replay")


class ScheduleForm(LocalTimeMixin, StartForm):
    scheduled_for = scheduled_for_field()
    timezone = forms.CharField(widget=forms.HiddenInput, required=False)


class RescheduleForm(LocalTimeMixin, ServiceErrorsMixin, forms.Form):
    scheduled_for = scheduled_for_field()
    timezone = forms.CharField(widget=forms.HiddenInput, required=False)
