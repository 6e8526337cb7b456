"""How notifications look in the API: translation only, no rules."""

from rest_framework import serializers

from .models import Notification


class NotificationSpaceSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    state = serializers.CharField()
    url = serializers.CharField(source="share_url")


class NotificationSerializer(serializers.ModelSerializer):
    space = NotificationSpaceSerializer(read_only=True)
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "space", "created_at", "read_at", "unread"]
        read_only_fields = fields

    def get_unread(self, notification: Notification) -> bool:
        return notification.read_at is None


class MarkedReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many notifications were unread and are read now.")
