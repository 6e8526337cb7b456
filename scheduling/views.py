"""REST API for a signed-in person's notifications: thin views over the scheduling services."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms.api.schema import ApiSchema, errors
from rooms.api.views import SpaceMixin
from rooms.errors import InvalidInput

from . import selectors, services
from .serializers import MarkedReadSerializer, NotificationSerializer


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
    """Be reminded (in the app and by email) when a scheduled Space goes live."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={201: ReminderSerializer, **errors(401, 404, 409)})
    def post(self, request, code):
        services.reminder_set(space=self.get_space(), user=request.user)
        return Response({"reminder": True}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None, **errors(401, 404)})
    def delete(self, request, code):
        services.reminder_remove(space=self.get_space(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
