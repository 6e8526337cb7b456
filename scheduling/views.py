"""REST API for a signed-in person's notifications: thin views over the scheduling services."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms.api.views import errors
from rooms.errors import InvalidInput

from . import selectors, services
from .serializers import MarkedReadSerializer, NotificationSerializer


class NotificationListView(generics.ListAPIView):
    """Your notifications, newest first; `?unread=true` for the unread ones only."""

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
        parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only unread notifications.")],
        responses={200: NotificationSerializer(many=True), **errors(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class NotificationReadView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="notification_read", request=None, responses={200: NotificationSerializer, **errors(401, 404)}
    )
    def post(self, request, notification_id: int):
        notification = services.notification_mark_read(user=request.user, notification_id=notification_id)
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="notifications_read_all", request=None, responses={200: MarkedReadSerializer, **errors(401)})
    def post(self, request):
        return Response({"marked": services.notifications_mark_all_read(user=request.user)})
