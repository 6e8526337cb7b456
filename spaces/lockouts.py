"""What a client is told when django-axes has locked it out of signing in.

After ``AXES_FAILURE_LIMIT`` failures an account is locked whatever address tries it, and an
address whatever account it tries, for ``AXES_COOLOFF_TIME`` after the last failure (settings).
The API's token endpoint answers 429 in the API's error format with ``Retry-After``; the sign-in
page (and the admin's) shows the sign-in form again with the reason. Staff lift a lockout early
with ``manage.py axes_reset_username <username>`` or ``axes_reset_ip <address>``.
"""

import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import JsonResponse
from django.shortcuts import render


def cool_off_seconds() -> int:
    return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())


def message() -> str:
    minutes = max(1, math.ceil(cool_off_seconds() / 60))
    return (
        "Too many failed sign-in attempts for this account or from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


def lockout_response(request, *_):
    """``AXES_LOCKOUT_CALLABLE``: axes calls it with the request (and, depending on the
    middleware's mode, the view's response and the credentials, which are not needed here)."""
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message(), "code": "locked_out"}, status=429)
        response["Retry-After"] = str(cool_off_seconds())
        return response
    # An unbound form: validating it again would count one more failure.
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {"form": form, "locked_out": message(), "next": request.POST.get("next", "")}
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(cool_off_seconds())
    return response
