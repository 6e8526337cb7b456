"""A person's account: signing up and changing their email address. Django's own views handle
signing in, out and password resets; every other change to an account goes through here."""

import math
import time

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from rooms.errors import Conflict, InvalidInput, NotPermitted

User = get_user_model()


class EmailTaken(Conflict):
    code = "email_taken"


def email_normalize(email: str) -> str:
    """Trimmed, with the domain in lower case; empty for no address. Raises ``InvalidInput``."""
    email = User.objects.normalize_email((email or "").strip())
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput("Enter a valid email address, like name@example.com, or leave it empty.", code="invalid_email") from None
    return email


def email_check_free(email: str, *, user=None) -> None:
    # One account per address: a password reset for it must reach one account, not several.
    taken = User.objects.filter(email__iexact=email)
    if user is not None:
        taken = taken.exclude(pk=user.pk)
    if email and taken.exists():
        raise EmailTaken("Another account uses this email address. Sign in to it, or reset its password.")


def account_create(*, username: str, password: str, email: str = "") -> User:
    """A new account; ``email`` is optional (reminders by email and password resets need it).
    The form has checked the username and the password's strength."""
    email = email_normalize(email)
    with transaction.atomic():
        email_check_free(email)
        return User.objects.create_user(username=username, password=password, email=email)


def account_email_change(*, user, email: str) -> User:
    """Set or clear ``user``'s email address (empty: no emails, no password resets)."""
    if user is None or not user.is_authenticated:
        raise NotPermitted("Sign in to change your email address.", code="not_authenticated")
    email = email_normalize(email)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        email_check_free(email, user=user)
        if user.email != email:
            user.email = email
            user.save(update_fields=["email"])
    return user



# Reset emails: one per address a minute, and a handful per client address, so the form cannot be
# used to flood someone's inbox. The same whether or not an account has the address.
RESET_PER_EMAIL = (1, 60)
RESET_PER_CLIENT = (5, 900)


def password_reset_wait(*, email: str, client: str) -> int:
    """Count a reset request; return 0 if it may go ahead, else the seconds to wait (a refused
    request is not counted)."""
    now = time.time()
    buckets = []
    for key, (limit, window) in (
        (f"password-reset:email:{email.strip().lower()}", RESET_PER_EMAIL),
        (f"password-reset:client:{client}", RESET_PER_CLIENT),
    ):
        stamps = [t for t in cache.get(key, []) if t > now - window]
        buckets.append((key, stamps, limit, window))
    wait = max((math.ceil(stamps[0] + window - now) for _, stamps, limit, window in buckets if len(stamps) >= limit), default=0)
    if not wait:
        for key, stamps, _, window in buckets:
            cache.set(key, [*stamps, now], window)
    return wait
