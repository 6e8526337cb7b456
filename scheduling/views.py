"""REST API for a signed-in person's notifications: thin views over the scheduling services."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms.api.schema import ApiSchema, errors
from rooms.api.views import SpaceMixin
from rooms.errors import InvalidInput

from . import push, selectors, services, subscriptions
from .serializers import (
    MarkedReadSerializer,
    NotificationSerializer,
    PushEndpointSerializer,
    PushSettingsSerializer,
    PushSubscriptionSerializer,
)


class NotificationListView(generics.ListAPIView):
    """Your notifications, newest first; `?unread=true` for the unread ones only."""

    schema = ApiSchema()
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = NotificationSerializer

    def get_queryset(self):
        unread = (self.request.query_params.get("unread") or "false").lower()
        if unread not in {"true", "false", "1", "0"}:
            raise InvalidInput("unread must be true or false.", code="invalid_unread_filter")
        if unread in {"true", "1"}:
            return selectors.notifications_unread(user=self.request.user)
        return selectors.notifications_for(user=self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "unread",
                # What get_queryset accepts, exactly: true/false in any case, or 1/0.
                {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[01])$"},
                description="`true` (or `1`): only unread notifications; `false` (or `0`, or left out): all.",
            )
        ],
        responses={200: NotificationSerializer(many=True), **errors(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class NotificationReadView(APIView):
    schema = ApiSchema()
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="notification_read", request=None, responses={200: NotificationSerializer, **errors(401, 404)}
    )
    def post(self, request, notification_id: int):
        notification = services.notification_mark_read(user=request.user, notification_id=notification_id)
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllView(APIView):
    schema = ApiSchema()
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="notifications_read_all", request=None, responses={200: MarkedReadSerializer, **errors(401)})
    def post(self, request):
        return Response({"marked": services.notifications_mark_all_read(user=request.user)})


class ReminderSerializer(serializers.Serializer):
    reminder = serializers.BooleanField(read_only=True, help_text="Always true: you will be reminded.")


class ReminderView(SpaceMixin, APIView):
    """Be reminded (in the app, by email and in subscribed browsers) 10 minutes before a scheduled
    Space starts and when it goes live."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={201: ReminderSerializer, **errors(401, 404, 409)})
    def post(self, request, code):
        services.reminder_set(space=self.get_space(), user=request.user)
        return Response({"reminder": True}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None, **errors(401, 404)})
    def delete(self, request, code):
        services.reminder_remove(space=self.get_space(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PushSettingsView(APIView):
    """What a browser needs to subscribe to notifications: the server's VAPID public key."""

    schema = ApiSchema()
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="push_settings", responses={200: PushSettingsSerializer, **errors(401)})
    def get(self, request):
        keys = push.vapid_keys()
        return Response(
            {
                "enabled": keys is not None,
                "public_key": keys.public if keys else "",
                "subscriptions": selectors.push_subscription_count(user=request.user),
            }
        )


class PushSubscriptionView(APIView):
    """Get your notifications in this browser too: send its PushSubscription (`toJSON()`)."""

    schema = ApiSchema()
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="push_subscribe",
        request=PushSubscriptionSerializer,
        responses={201: PushSubscriptionSerializer, **errors(400, 401, 409)},
    )
    def post(self, request):
        given = PushSubscriptionSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        subscription = subscriptions.push_subscribe(
            user=request.user, endpoint=data["endpoint"], p256dh=data["keys"]["p256dh"], auth=data["keys"]["auth"]
        )
        return Response(PushSubscriptionSerializer(subscription.info).data, status=status.HTTP_201_CREATED)


class PushUnsubscribeView(APIView):
    """Stop notifications in a browser (its endpoint); one that is not yours or unknown is a no-op."""

    schema = ApiSchema()
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="push_unsubscribe", request=PushEndpointSerializer, responses={204: None, **errors(400, 401)})
    def post(self, request):
        given = PushEndpointSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        subscriptions.push_unsubscribe(user=request.user, endpoint=given.validated_data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)
