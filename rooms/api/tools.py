"""REST endpoints of the room's tools: a speaker's own mute, the host's "mute all" and the
pinned link. Thin, as every API view: read the request, call one service, render the result."""

from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms import services

from .schema import errors
from .serializers import (
    MicSerializer,
    MuteAllResultSerializer,
    ParticipantSerializer,
    PinSerializer,
    SpaceSerializer,
)
from .views import SpaceMixin, request_data, validated


class MicView(SpaceMixin, APIView):
    @extend_schema(
        request=MicSerializer,
        responses={200: ParticipantSerializer, **errors(400, 401, 404, 409, 415)},
        description="Mute or unmute your own microphone (on stage): everyone sees it "
        "(`self_muted`). Your browser mutes itself in the mix; a mute by the host (`muted`) stays.",
    )
    def put(self, request, code):
        space = self.get_space()
        request_data(request)
        data = validated(MicSerializer, request)
        participant = services.mic_set_self_muted(space=space, participant=self.my_participant(space), muted=data["muted"])
        return Response(ParticipantSerializer(participant).data)


class MuteAllView(SpaceMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={200: MuteAllResultSerializer, **errors(401, 403, 404, 409)},
        description="Mute everyone on the stage but yourself (host or co-host; a co-host leaves the "
        "host and other co-hosts alone). All or none, in one go.",
    )
    def post(self, request, code):
        muted = services.stage_mute_all(space=self.get_space(), actor=request.user)
        return Response({"muted": ParticipantSerializer(muted, many=True).data})


class PinView(SpaceMixin, APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=PinSerializer,
        responses={200: SpaceSerializer, **errors(400, 401, 403, 404, 409, 415)},
        description="Pin one http(s) link (with an optional label) for everyone in the live Space, "
        "replacing any pinned one. Host or co-host.",
    )
    def put(self, request, code):
        space = self.get_space()
        request_data(request)
        data = validated(PinSerializer, request)
        space = services.space_pin_link(space=space, actor=request.user, url=data["url"], label=data.get("label"))
        return Response(SpaceSerializer(space, context={"request": request}).data)

    @extend_schema(request=None, responses={200: SpaceSerializer, **errors(401, 403, 404, 409)})
    def delete(self, request, code):
        space = services.space_unpin_link(space=self.get_space(), actor=request.user)
        return Response(SpaceSerializer(space, context={"request": request}).data)
