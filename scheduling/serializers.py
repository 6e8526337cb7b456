"""How notifications look in the API: translation only, no rules."""

from rest_framework import serializers

from rooms.api.serializers import StrictCharField
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


class PushKeysSerializer(serializers.Serializer):
    p256dh = StrictCharField(max_length=100, trim_whitespace=False, help_text="The browser's P-256 public key, base64url.")
    auth = StrictCharField(max_length=40, trim_whitespace=False, help_text="The browser's 16-byte auth secret, base64url.")


class PushSubscriptionSerializer(serializers.Serializer):
    """A browser's PushSubscription, as its `toJSON()` gives it."""

    endpoint = StrictCharField(max_length=1000, trim_whitespace=False, help_text="The push service URL the browser gave (https).")
    keys = PushKeysSerializer()


class PushEndpointSerializer(serializers.Serializer):
    endpoint = StrictCharField(max_length=1000, trim_whitespace=False)


class PushSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(read_only=True, help_text="False: this server has no VAPID keys.")
    public_key = serializers.CharField(
        read_only=True, allow_blank=True, help_text="VAPID public key (base64url): the applicationServerKey."
    )
    subscriptions = serializers.IntegerField(read_only=True, help_text="How many of your browsers get pushes.")
