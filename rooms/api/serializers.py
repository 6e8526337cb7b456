"""Translate between JSON and the arguments services take. No rules live here beyond types: the
services own the rules and their error messages."""

from datetime import UTC

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rooms import selectors
from rooms.models import Participant, Space

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


@extend_schema_field({"type": "string", "format": "date-time", "example": "2026-12-01T18:00:00+01:00"})
class AwareDateTimeField(serializers.Field):
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

    def to_representation(self, value):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


class UserSerializer(serializers.Serializer):
    username = serializers.CharField()


class ParticipantSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="uid")
    name = serializers.CharField(source="display_name")
    signed_in = serializers.SerializerMethodField()
    present = serializers.BooleanField(source="is_present")
    hand_raised = serializers.SerializerMethodField()

    class Meta:
        model = Participant
        fields = ["id", "name", "role", "muted", "signed_in", "present", "hand_raised", "joined_at"]

    def get_signed_in(self, obj) -> bool:
        return obj.user_id is not None

    def get_hand_raised(self, obj) -> bool:
        return obj.hand_raised_at is not None


class SpaceSerializer(serializers.ModelSerializer):
    host = UserSerializer()
    scheduled_for = AwareDateTimeField()
    started_at = AwareDateTimeField()
    ended_at = AwareDateTimeField()
    share_url = serializers.CharField()
    replay_url = serializers.CharField(help_text="The recording of an ended Space, while it is kept; empty otherwise.")
    listener_count = serializers.SerializerMethodField()
    speakers = serializers.SerializerMethodField()

    class Meta:
        model = Space
        fields = [
            "code",
            "title",
            "description",
            "state",
            "host",
            "record",
            "scheduled_for",
            "started_at",
            "ended_at",
            "share_url",
            "listener_count",
            "peak_listeners",
            "speakers",
            "replay_url",
        ]

    def get_listener_count(self, obj) -> int:
        annotated = getattr(obj, "listener_count", None)
        return annotated if annotated is not None else selectors.listener_count(space=obj)

    @extend_schema_field(ParticipantSerializer(many=True))
    def get_speakers(self, obj):
        if obj.state != Space.State.LIVE:
            return []
        return ParticipantSerializer(selectors.stage(space=obj), many=True).data


class SpaceCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=TEXT_INPUT_MAX, trim_whitespace=False, allow_blank=True)
    description = serializers.CharField(
        max_length=TEXT_INPUT_MAX, required=False, allow_blank=True, trim_whitespace=False
    )
    scheduled_for = AwareDateTimeField(
        required=False, allow_null=True, help_text="Leave out to go live now."
    )
    record = StrictBooleanField(required=False, default=False)


class SpaceUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=TEXT_INPUT_MAX, required=False, trim_whitespace=False, allow_blank=True)
    description = serializers.CharField(
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


class RemoveSerializer(serializers.Serializer):
    block = StrictBooleanField(required=False, default=False)


class JoinSerializer(serializers.Serializer):
    quiet = StrictBooleanField(
        required=False, default=False, help_text="Signed in: be counted but never named."
    )


class MediaCredentialsSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["listener", "speaker"])
    server = serializers.CharField(help_text="Janus URL for browsers; empty: ws://<this host>:ws_port")
    ws_port = serializers.IntegerField()
    token = serializers.CharField(help_text="Signed, expiring Janus token for this role's plugin")
    room = serializers.IntegerField()
    mountpoint = serializers.IntegerField(required=False)
    participant_token = serializers.CharField(required=False)
    participant_id = serializers.IntegerField(required=False)
    display = serializers.CharField(required=False)
    muted = serializers.BooleanField(required=False)


class MediaResultSerializer(serializers.Serializer):
    media = MediaCredentialsSerializer(allow_null=True)


class JoinResultSerializer(serializers.Serializer):
    participant = ParticipantSerializer()
    space = SpaceSerializer()
    media = MediaCredentialsSerializer(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
