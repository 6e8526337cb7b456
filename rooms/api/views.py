"""REST API: thin views that read a request, call one service, and render the result.

Permissions are checked in the services (they know the Space and the roles); the views only
require a signed-in user where no signed-out caller could ever succeed.
"""

from django.contrib.auth import authenticate
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from rooms import selectors, services
from rooms.errors import InvalidInput, NotParticipant
from rooms.identity import anonymous_identity, existing_anonymous_id
from rooms.models import Space
from scheduling import services as scheduling

from .serializers import (
    ErrorSerializer,
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


def errors(*codes: int) -> dict:
    described = {
        400: "Bad input; `code` says which rule, `detail` what to change.",
        401: "Not signed in (`not_authenticated`).",
        403: "Signed in, but not allowed (`permission_denied`, `removed`, `host_only`).",
        404: "No such Space or participant (`space_not_found`, `participant_not_found`).",
        409: "Not possible in the Space's current state (`not_live`, `invalid_state`, "
        "`one_scheduled_space`, `one_live_space`, `speaker_limit`, `cohost_limit`, ...).",
        415: "Send JSON (`unsupported_media_type`).",
    }
    return {code: OpenApiResponse(ErrorSerializer, description=described[code]) for code in codes}


def validated(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def request_data(request) -> dict:
    if not isinstance(request.data, dict):
        raise InvalidInput("Send a JSON object.", code="not_an_object")
    return request.data


class SpaceMixin:
    def get_space(self) -> Space:
        return selectors.space_get(code=self.kwargs["code"])

    def my_participant(self, space: Space):
        participant = selectors.participant_for(
            space=space,
            user=self.request.user,
            anon_id=existing_anonymous_id(getattr(self.request, "session", None)),
        )
        if participant is None:
            raise NotParticipant("You are not in this Space; join it first.")
        return participant


class TokenView(APIView):
    """Trade a username and password for an API token (``Authorization: Token <token>``)."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenSerializer, **errors(400)})
    def post(self, request):
        data = validated(TokenRequestSerializer, request)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise InvalidInput("That username and password do not match an account.", code="invalid_credentials")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


@extend_schema(
    parameters=[
        OpenApiParameter(
            "state", OpenApiTypes.STR, enum=["live", "scheduled", "ended"], description="Which Spaces."
        )
    ]
)
class SpaceListCreateView(generics.GenericAPIView):
    serializer_class = SpaceSerializer

    def get_permissions(self):
        if self.request.method == "POST":
            return [permissions.IsAuthenticated()]
        return [permissions.AllowAny()]

    @extend_schema(responses={200: SpaceSerializer(many=True), **errors(400)})
    def get(self, request):
        state = request.query_params.get("state") or None
        if state not in (None, "live", "scheduled", "ended"):
            raise InvalidInput("state must be live, scheduled or ended.", code="invalid_state_filter")
        page = self.paginate_queryset(selectors.space_list(state=state or "live"))
        return self.get_paginated_response(SpaceSerializer(page, many=True).data)

    @extend_schema(
        request=SpaceCreateSerializer,
        responses={201: SpaceSerializer, **errors(400, 401, 409, 415)},
        description="Without `scheduled_for` the Space is live now; with it, scheduled.",
    )
    def post(self, request):
        request_data(request)
        data = validated(SpaceCreateSerializer, request)
        if data.get("scheduled_for"):
            space = scheduling.space_schedule(
                host=request.user,
                title=data["title"],
                description=data.get("description", ""),
                scheduled_for=data["scheduled_for"],
                record=data["record"],
            )
        else:
            space = services.space_start_now(
                host=request.user,
                title=data["title"],
                description=data.get("description", ""),
                record=data["record"],
            )
        return Response(SpaceSerializer(space).data, status=status.HTTP_201_CREATED)


class SpaceDetailView(SpaceMixin, APIView):
    @extend_schema(responses={200: SpaceSerializer, **errors(404)})
    def get(self, request, code):
        return Response(SpaceSerializer(self.get_space()).data)

    @extend_schema(
        request=SpaceUpdateSerializer,
        responses={200: SpaceSerializer, **errors(400, 401, 403, 404, 409, 415)},
        description="Edit title/description; with `scheduled_for`, reschedule. Host only.",
    )
    def patch(self, request, code):
        space = self.get_space()
        request_data(request)
        data = validated(SpaceUpdateSerializer, request)
        # An edit and a reschedule in one request land together or not at all.
        with transaction.atomic():
            if "title" in data or "description" in data:
                space = services.space_update(
                    space=space, actor=request.user, title=data.get("title"), description=data.get("description")
                )
            if "scheduled_for" in data:
                space = scheduling.space_reschedule(space=space, actor=request.user, scheduled_for=data["scheduled_for"])
        if not data:
            services.require_host_or_staff(request.user, space, "edit this Space")
        return Response(SpaceSerializer(space).data)


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
            space = scheduling.space_cancel(space=space, actor=request.user)
        return Response(SpaceSerializer(space).data)


class JoinView(SpaceMixin, APIView):
    """Become a participant. Signed out, you join as a listener with a label kept in your session."""

    @extend_schema(request=JoinSerializer, responses={200: JoinResultSerializer, **errors(400, 403, 404, 409)})
    def post(self, request, code):
        space = self.get_space()
        data = validated(JoinSerializer, request) if request.data else {"quiet": False}
        if request.user.is_authenticated:
            participant = services.space_join(space=space, user=request.user, quiet=data["quiet"])
        else:
            anon_id, label = anonymous_identity(request.session)
            participant = services.space_join(
                space=space, anon_id=anon_id, anon_label=label, quiet=data["quiet"]
            )
        return Response(self.result(space, participant))

    def result(self, space, participant) -> dict:
        space = selectors.space_get(code=space.code)
        return {
            "participant": ParticipantSerializer(participant).data,
            "space": SpaceSerializer(space).data,
            "media": selectors.media_credentials(space=space, participant=participant),
        }


class MediaView(SpaceMixin, APIView):
    """This person's current media credentials: fetched again after a promotion or demotion."""

    @extend_schema(request=None, responses={200: MediaResultSerializer, **errors(404, 409)})
    def get(self, request, code):
        space = self.get_space()
        participant = self.my_participant(space)
        return Response({"media": selectors.media_credentials(space=space, participant=participant)})


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
        people = selectors.participants_present(space=space).filter(quiet=False)
        order = {role: i for i, role in enumerate(["host", "cohost", "speaker", "listener"])}
        people = sorted(people, key=lambda p: (order[p.role], p.joined_at, p.pk))
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
        if "role" in data:
            participant = services.participant_set_role(
                space=space, actor=request.user, participant=participant, role=data["role"]
            )
        if "muted" in data:
            participant = services.participant_set_muted(
                space=space, actor=request.user, participant=participant, muted=data["muted"]
            )
        return Response(ParticipantSerializer(participant).data)


class ParticipantRemoveView(SpaceMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=RemoveSerializer, responses={200: ParticipantSerializer, **errors(400, 401, 403, 404, 409)})
    def post(self, request, code, uid):
        space = self.get_space()
        participant = selectors.participant_get(space=space, uid=uid)
        data = validated(RemoveSerializer, request) if request.data else {"block": False}
        participant = services.participant_remove(
            space=space, actor=request.user, participant=participant, block=data["block"]
        )
        return Response(ParticipantSerializer(participant).data)


class ReminderView(SpaceMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={201: None, **errors(401, 404, 409)})
    def post(self, request, code):
        scheduling.reminder_set(space=self.get_space(), user=request.user)
        return Response({"reminder": True}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None, **errors(401, 404)})
    def delete(self, request, code):
        scheduling.reminder_remove(space=self.get_space(), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReplayView(SpaceMixin, APIView):
    @extend_schema(request=None, responses={204: None, **errors(401, 403, 404, 409)})
    def delete(self, request, code):
        services.space_replay_delete(space=self.get_space(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
