"""How notifications look in the API: translation only, no rules."""

from rest_framework import serializers

from rooms.models import Space
from rooms.wire import UTCDateTimeField

from .models import Notification


class NotificationSpaceSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=Space.State.choices, read_only=True)
    url = serializers.CharField(source="share_url", read_only=True)


class NotificationSerializer(serializers.ModelSerializer):
    space = NotificationSpaceSerializer(read_only=True)
    kind = serializers.ChoiceField(choices=Notification.Kind.choices, read_only=True)
    created_at = UTCDateTimeField(read_only=True)
    read_at = UTCDateTimeField(read_only=True, allow_null=True, help_text="Null while unread.")
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "space", "created_at", "read_at", "unread"]
        read_only_fields = fields

    def get_unread(self, notification: Notification) -> bool:
        return notification.read_at is None


class MarkedReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField(read_only=True, help_text="How many notifications were unread and are read now.")
