"""``{{ space.duration|human_length }}``: how long something lasted, in words ("17 seconds",
"4 min 5 s", "1 h 5 min"), the same rule as ``humanLength`` in static/js/length.js."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def human_length(value) -> str:
    if value in (None, ""):
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    seconds = max(0, seconds)
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    hours, minutes, rest = seconds // 3600, seconds // 60 % 60, seconds % 60
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"
