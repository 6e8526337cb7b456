"""REST API for clips: thin views over ``clips.services`` and ``clips.selectors``."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms import selectors as rooms_selectors
from rooms.api.schema import ApiSchema, error_response, errors
from rooms.identity import visitor_for_request

from . import selectors, services

CLIP_429 = "More clips a minute than `SPACES_CLIPS_PER_MINUTE` from one person in one Space (`rate_limited`); " \
    "`Retry-After` says when to try again."
CLIP_409 = "Not live (`not_live`), not recorded (`not_recorded`), not in the room (`not_participant`) or " \
    "nothing recorded yet (`nothing_recorded`)."


class ClipSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    space = serializers.CharField(source="space.code", read_only=True, help_text="The Space's share code.")
    space_title = serializers.CharField(source="space.title", read_only=True)
    # A plain string, so that the schema's enum of a Space's `state` keeps its name.
    state = serializers.CharField(read_only=True, help_text="`pending` while the worker encodes it, then `ready` or `failed`.")
    seconds = serializers.FloatField(read_only=True, help_text="Length; 0 until ready.")
    offset = serializers.FloatField(read_only=True, help_text="Where it starts, in seconds into the recording.")
    created_by = serializers.CharField(source="creator_name", read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    plays = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField(help_text="The clip's share page.")
    audio_url = serializers.SerializerMethodField(help_text="Ogg Opus, byte ranges served; empty until ready.")

    def get_url(self, clip) -> str:
        return self.context["request"].build_absolute_uri(clip.get_absolute_url())

    def get_audio_url(self, clip) -> str:
        return self.context["request"].build_absolute_uri(clip.audio_path) if clip.is_ready else ""


class SpaceClipsView(APIView):
    schema = ApiSchema()

    @extend_schema(responses={200: ClipSerializer(many=True)}, description="The Space's clips that are ready, newest first.")
    def get(self, request, code):
        space = rooms_selectors.space_get(code=code)
        clips = selectors.clips_ready(space=space)[:100]
        return Response(ClipSerializer(clips, many=True, context={"request": request}).data)

    @extend_schema(
        request=None,
        responses={202: ClipSerializer, **errors(403), 409: error_response(409, CLIP_409), 429: error_response(429, CLIP_429)},
        description="Clip the last 30 seconds of a live, recorded Space you are in; the clip is `pending` "
        "until the worker has encoded it (a second or two): poll `GET /api/clips/{code}/`.",
    )
    def post(self, request, code):
        space = rooms_selectors.space_get(code=code)
        clip = services.clip_create(space=space, visitor=visitor_for_request(request))
        return Response(ClipSerializer(clip, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ClipDetailView(APIView):
    schema = ApiSchema()

    @extend_schema(responses={200: ClipSerializer})
    def get(self, request, code):
        clip = selectors.clip_get(code=code)
        return Response(ClipSerializer(clip, context={"request": request}).data)

    @extend_schema(request=None, responses={204: None, **errors(401, 403)},
                   description="The Space's host and staff delete any clip; its creator their own.")
    def delete(self, request, code):
        services.clip_delete(clip=selectors.clip_get(code=code), visitor=visitor_for_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
