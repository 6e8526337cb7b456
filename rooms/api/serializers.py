"""Translate between JSON and the arguments services take. No rules live here beyond types: the
services own the rules and their error messages.

What responses look like is defined once, in ``rooms.wire``; it is re-exported here for the views.
"""

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rooms.models import Participant
from rooms.wire import (  # noqa: F401  (response serializers, used by the views)
    BadRequestErrorSerializer,
    ConflictErrorSerializer,
    ErrorSerializer,
    JoinResultSerializer,
    MediaCredentialsSerializer,
    MediaResultSerializer,
    ParticipantSerializer,
    SpaceSerializer,
    UserSerializer,
    UTCDateTimeField,
)

# Generous upper bounds so a huge body is refused as input, before any service sees it; the
# services give the precise messages for the product's own limits.
TEXT_INPUT_MAX = 10_000


class StrictBooleanField(serializers.BooleanField):
    """Only JSON true/false: "yes" or 1 is a mistake worth telling the caller about."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid")


class StrictCharField(serializers.CharField):
    """Only JSON strings: DRF's CharField would take 12 or 1.5 and store "12" or "1.5"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "format": "date-time", "example": "2026-12-01T18:00:00+01:00"})
class AwareDateTimeField(UTCDateTimeField):
    """ISO-8601 with a UTC offset; a naive time is refused rather than guessed."""

    default_error_messages = {
        "invalid": "Use an ISO-8601 date and time with a UTC offset, e.g. 2026-12-01T18:00:00+01:00.",
        "naive_datetime": "Include a UTC offset (e.g. +01:00 or Z) so the time means the same moment everywhere.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or len(data) > 64:
            self.fail("invalid")
        try:
            value = parse_datetime(data.strip())
        except ValueError:
            value = None
        if value is None:
            self.fail("invalid")
        if timezone.is_naive(value):
            self.fail("naive_datetime")
        return value


class SpaceCreateSerializer(serializers.Serializer):
    title = StrictCharField(max_length=TEXT_INPUT_MAX, trim_whitespace=False, allow_blank=True)
    description = StrictCharField(
        max_length=TEXT_INPUT_MAX, required=False, allow_blank=True, trim_whitespace=False
    )
    scheduled_for = AwareDateTimeField(
        required=False, allow_null=True, help_text="Leave out to go live now."
    )
    record = StrictBooleanField(required=False, default=False)


class SpaceUpdateSerializer(serializers.Serializer):
    title = StrictCharField(max_length=TEXT_INPUT_MAX, required=False, trim_whitespace=False, allow_blank=True)
    description = StrictCharField(
        max_length=TEXT_INPUT_MAX, required=False, allow_blank=True, trim_whitespace=False
    )
    scheduled_for = AwareDateTimeField(required=False, help_text="Reschedule a scheduled Space.")


class ParticipantUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=[Participant.Role.COHOST, Participant.Role.SPEAKER, Participant.Role.LISTENER],
        required=False,
    )
    muted = StrictBooleanField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send role, muted, or both.", code="empty")
        return attrs


class PinSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=TEXT_INPUT_MAX, trim_whitespace=False, help_text="http:// or https:// only, at most 500 characters.")
    label = serializers.CharField(
        max_length=TEXT_INPUT_MAX, required=False, allow_blank=True, help_text="Optional, at most 80 characters."
    )


class MicSerializer(serializers.Serializer):
    muted = StrictBooleanField(help_text="Your own mute; a mute by the host stays whatever you send.")


class MuteAllResultSerializer(serializers.Serializer):
    muted = ParticipantSerializer(many=True, read_only=True, help_text="Those this call muted.")


class RemoveSerializer(serializers.Serializer):
    block = StrictBooleanField(required=False, default=False)


class JoinSerializer(serializers.Serializer):
    quiet = StrictBooleanField(
        required=False, default=False, help_text="Signed in: be counted but never named."
    )


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=4096, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True, help_text="Send it as `Authorization: Token <token>`.")


