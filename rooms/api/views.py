"""REST API: thin views that read a request, call one service, and render the result.

Permissions are checked in the services (they know the Space and the roles); the views only
require a signed-in user where no signed-out caller could ever succeed.
"""

from django.contrib.auth import authenticate
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms import selectors, services
from rooms.errors import InvalidInput, NotParticipant
from rooms.identity import visitor_for_request
from rooms.models import Space
from rooms.wire import media_wire
from spaces.clients import client_ip

from .schema import ApiSchema, error_response, errors
from .serializers import (
    JoinResultSerializer,
    JoinSerializer,
    MediaResultSerializer,
    ParticipantSerializer,
    ParticipantUpdateSerializer,
    RemoveSerializer,
    SpaceCreateSerializer,
    SpaceSerializer,
    SpaceUpdateSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from .throttling import ClientScopedRateThrottle


def validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def request_data(request) -> dict:
    if not isinstance(request.data, dict):
        raise InvalidInput("Send a JSON object.", code="not_an_object")
    return request.data


class SpaceMixin:
    schema = ApiSchema()

    def get_space(self) -> Space:
        return selectors.space_get(code=self.kwargs["code"])

    def my_participant(self, space: Space):
        visitor = visitor_for_request(self.request)
        participant = selectors.participant_for(space=space, visitor=visitor)
        if participant is None or participant.user_id is None:
            # A signed-out listener who listens is in Redis (a row of theirs is a removal's).
            participant = selectors.guest_listening(space=space, visitor=visitor) or participant
        if participant is None:
            raise NotParticipant("You are not in this Space; join it first.")
        return participant


TOKEN_429 = (
    "Signing in is locked for this account or from this address after repeated failures (`locked_out`); "
    "`Retry-After` says when to try again."
)


class TokenView(APIView):
    """Trade a username and password for an API token (``Authorization: Token <token>``).

    Sign-in lockouts apply as on the sign-in page (spaces.lockouts): django-axes sees the
    attempt on Django's request, and its middleware answers 429 ``locked_out``."""

    schema = ApiSchema()
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ClientScopedRateThrottle]
    throttle_scope = "token"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, **errors(400), 429: error_response(429, TOKEN_429)},
    )
    def post(self, request):
        data = validated(TokenRequestSerializer, request)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise InvalidInput("That username and password do not match an account.", code="invalid_credentials")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class SpaceListCreateView(generics.GenericAPIView):
    schema = ApiSchema()
    serializer_class = SpaceSerializer

    def get_permissions(self):
        if self.request.method == "POST":
            return [permissions.IsAuthenticated()]
        return [permissions.AllowAny()]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "state",
                OpenApiTypes.STR,
                enum=["live", "scheduled", "ended"],
                description="Which Spaces; live when left out.",
            )
        ],
        responses={200: SpaceSerializer(many=True), **errors(400)},
    )
    def get(self, request):
        state = request.query_params.get("state") or None
        if state not in (None, "live", "scheduled", "ended"):
            raise InvalidInput("state must be live, scheduled or ended.", code="invalid_state_filter")
        page = self.paginate_queryset(selectors.space_list(state=state or "live"))
        return self.get_paginated_response(SpaceSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        request=SpaceCreateSerializer,
        responses={201: SpaceSerializer, **errors(400, 401, 409, 415)},
        description="Without `scheduled_for` the Space is live now; with it, scheduled.",
    )
    def post(self, request):
        request_data(request)
        data = validated(SpaceCreateSerializer, request)
        space = services.space_create(
            host=request.user,
            title=data["title"],
            description=data.get("description", ""),
            scheduled_for=data.get("scheduled_for"),
            record=data["record"],
        )
        return Response(SpaceSerializer(space, context={"request": self.request}).data, status=status.HTTP_201_CREATED)


class SpaceDetailView(SpaceMixin, APIView):
    @extend_schema(responses={200: SpaceSerializer, **errors(404)})
    def get(self, request, code):
        return Response(SpaceSerializer(self.get_space(), context={"request": request}).data)

    @extend_schema(
        request=SpaceUpdateSerializer,
        responses={200: SpaceSerializer, **errors(400, 401, 403, 404, 409, 415)},
        description="Edit title/description; with `scheduled_for`, reschedule. Host only.",
    )
    def patch(self, request, code):
        space = self.get_space()
        request_data(request)
        data = validated(SpaceUpdateSerializer, request)
        # An edit and a reschedule in one request land together or not at all (one service).
        space = services.space_update(
            space=space,
            actor=request.user,
            title=data.get("title"),
            description=data.get("description"),
            scheduled_for=data.get("scheduled_for"),
        )
        return Response(SpaceSerializer(space, context={"request": self.request}).data)


class SpaceLifecycleView(SpaceMixin, APIView):
    action = ""

    @extend_schema(request=None, responses={200: SpaceSerializer, **errors(401, 403, 404, 409)})
    def post(self, request, code):
        space = self.get_space()
        if self.action == "start":
            space = services.space_go_live(space=space, actor=request.user)
        elif self.action == "end":
            space = services.space_end(space=space, actor=request.user)
        else:
            space = services.space_cancel(space=space, actor=request.user)
        return Response(SpaceSerializer(space, context={"request": self.request}).data)


JOIN_429 = (
    "More joins from your address than `SPACES_JOINS_PER_CLIENT` a minute (`rate_limited`, with "
    "`retry_after`); `Retry-After` says when to try again."
)


class JoinView(SpaceMixin, APIView):
    """Become a participant. Signed out, you join as a listener with a label kept in your session;
    without a websocket open, you stay present for ``SPACES_API_PRESENCE_TTL`` (2 minutes by
    default): join again within it to stay."""

    @extend_schema(
        request=JoinSerializer,
        responses={200: JoinResultSerializer, **errors(400, 403, 404, 409), 429: error_response(429, JOIN_429)},
    )
    def post(self, request, code):
        space = self.get_space()
        data = validated(JoinSerializer, request) if request_data(request) else {"quiet": False}
        visitor = visitor_for_request(request, create=True)
        participant = services.space_join(
            space=space, visitor=visitor, quiet=data["quiet"], client=client_ip(request), lease=True
        )
        return Response(self.result(space, participant))

    def result(self, space, participant) -> dict:
        space = selectors.space_get(code=space.code)
        return {
            "participant": ParticipantSerializer(participant).data,
            "space": SpaceSerializer(space, context={"request": self.request}).data,
            "media": media_wire(selectors.media_credentials(space=space, participant=participant)),
        }


class MediaView(SpaceMixin, APIView):
    """This person's current media credentials: fetched again after a promotion or demotion."""

    @extend_schema(request=None, responses={200: MediaResultSerializer, **errors(404, 409)})
    def get(self, request, code):
        space = self.get_space()
        participant = self.my_participant(space)
        return Response({"media": media_wire(selectors.media_credentials(space=space, participant=participant))})


class LeaveView(SpaceMixin, APIView):
    @extend_schema(request=None, responses={200: ParticipantSerializer, **errors(404, 409)})
    def post(self, request, code):
        space = self.get_space()
        participant = services.space_leave(space=space, participant=self.my_participant(space))
        return Response(ParticipantSerializer(participant).data)


class HandView(SpaceMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: ParticipantSerializer, **errors(401, 403, 404, 409)})
    def post(self, request, code):
        space = self.get_space()
        participant = services.hand_raise(space=space, participant=self.my_participant(space))
        return Response(ParticipantSerializer(participant).data)

    @extend_schema(request=None, responses={200: ParticipantSerializer, **errors(401, 403, 404, 409)})
    def delete(self, request, code):
        space = self.get_space()
        participant = services.hand_lower(space=space, participant=self.my_participant(space))
        return Response(ParticipantSerializer(participant).data)


class ParticipantListView(SpaceMixin, APIView):
    @extend_schema(responses={200: ParticipantSerializer(many=True), **errors(404)})
    def get(self, request, code):
        space = self.get_space()
        people = selectors.participants_shown(space=space)
        return Response(ParticipantSerializer(people, many=True).data)


class ParticipantDetailView(SpaceMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=ParticipantUpdateSerializer,
        responses={200: ParticipantSerializer, **errors(400, 401, 403, 404, 409, 415)},
        description="Toggle speaker on/off (`role`), appoint or revoke a co-host (host only), mute.",
    )
    def patch(self, request, code, uid):
        space = self.get_space()
        participant = selectors.participant_get(space=space, uid=uid)
        request_data(request)
        data = validated(ParticipantUpdateSerializer, request)
        participant = services.participant_update(
            space=space, actor=request.user, participant=participant, role=data.get("role"), muted=data.get("muted")
        )
        return Response(ParticipantSerializer(participant).data)


class ParticipantRemoveView(SpaceMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=RemoveSerializer, responses={200: ParticipantSerializer, **errors(400, 401, 403, 404, 409)})
    def post(self, request, code, uid):
        space = self.get_space()
        participant = selectors.participant_get(space=space, uid=uid)
        data = validated(RemoveSerializer, request) if request_data(request) else {"block": False}
        participant = services.participant_remove(
            space=space, actor=request.user, participant=participant, block=data["block"]
        )
        return Response(ParticipantSerializer(participant).data)


class ReplayView(SpaceMixin, APIView):
    @extend_schema(request=None, responses={204: None, **errors(401, 403, 404, 409)})
    def delete(self, request, code):
        services.space_replay_delete(space=self.get_space(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@csrf_exempt
def not_found(request, *args, **kwargs):
    """Addresses under /api/ that match no endpoint: the same JSON error body as every other 404.
    Without a trailing slash, say so instead of redirecting (a redirected POST loses its body)."""
    detail = "There is nothing at this address; see /api/docs/ for the endpoints."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "api-not-found":
            detail = f"Add a trailing slash: {request.path}/"
    return JsonResponse({"detail": detail, "code": "not_found"}, status=404)
