"""REST API for captions: thin views over ``captions.services`` and ``captions.selectors``."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms import selectors as rooms_selectors
from rooms.api.schema import ApiSchema, error_response, errors
from rooms.identity import visitor_for_request

from . import selectors, services

CAPTIONS_409 = "The Space is not live (`not_live`)."


class SegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    speaker_ids = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="Participant ids.")
    name = serializers.CharField(read_only=True, help_text="The speakers' names.")
    start = serializers.FloatField(read_only=True, help_text="Seconds since the Space started.")
    end = serializers.FloatField(read_only=True)
    text = serializers.CharField(read_only=True)
    final = serializers.BooleanField(read_only=True)


class CaptionsStateSerializer(serializers.Serializer):
    on = serializers.BooleanField(read_only=True)
    captioned = serializers.ListField(child=serializers.CharField(), read_only=True,
                                      help_text="Ids of the speakers on stage who consented to be captioned.")
    may_toggle = serializers.BooleanField(read_only=True, help_text="The viewer may turn captions on or off.")
    may_consent = serializers.BooleanField(read_only=True, help_text="The viewer is on stage (consent is theirs to give).")
    consented = serializers.BooleanField(read_only=True)
    lines = SegmentSerializer(many=True, read_only=True)


class CaptionsToggleSerializer(serializers.Serializer):
    on = serializers.BooleanField()


class SpaceCaptionsView(APIView):
    schema = ApiSchema()

    @extend_schema(responses={200: CaptionsStateSerializer}, description="Captions of a Space, as the viewer sees them.")
    def get(self, request, code):
        space = rooms_selectors.space_get(code=code)
        return Response(selectors.viewer_state(space, visitor_for_request(request)))

    @extend_schema(request=CaptionsToggleSerializer,
                   responses={200: CaptionsStateSerializer, **errors(400, 401, 403), 409: error_response(409, CAPTIONS_409)},
                   description="The host or a co-host turns a live Space's captions on or off. Only speakers "
                   "who consented are captioned.")
    def put(self, request, code):
        space = rooms_selectors.space_get(code=code)
        body = request.data if isinstance(request.data, dict) else {}
        visitor = visitor_for_request(request)
        services.captions_set(space=space, actor=visitor.account, on=body.get("on"))
        return Response(selectors.viewer_state(space, visitor))


class CaptionsConsentView(APIView):
    schema = ApiSchema()

    @extend_schema(request=None, responses={200: CaptionsStateSerializer, **errors(401, 403), 409: error_response(409, CAPTIONS_409)},
                   description="A speaker on the stage of a live Space agrees to be captioned, once for every Space.")
    def post(self, request, code):
        space = rooms_selectors.space_get(code=code)
        visitor = visitor_for_request(request)
        services.consent_give(space=space, actor=visitor.account)
        return Response(selectors.viewer_state(space, visitor))

    @extend_schema(request=None, responses={200: CaptionsStateSerializer, **errors(401)},
                   description="Take the consent back: not captioned from now on, in any Space.")
    def delete(self, request, code):
        space = rooms_selectors.space_get(code=code)
        visitor = visitor_for_request(request)
        services.consent_revoke(space=space, actor=visitor.account)
        return Response(selectors.viewer_state(space, visitor))


class TranscriptView(APIView):
    schema = ApiSchema()

    @extend_schema(
        responses={200: inline_serializer("Transcript", {"webvtt": serializers.CharField(), "segments": SegmentSerializer(many=True)})},
        description="The Space's captions, in order; `?q=` keeps those whose words or speaker contain it.",
    )
    def get(self, request, code):
        space = rooms_selectors.space_get(code=code)
        segments = selectors.transcript(space, request.query_params.get("q", ""))[:2000]
        return Response({"webvtt": request.build_absolute_uri(f"/s/{space.code}/captions.vtt"),
                         "segments": [selectors.segment_wire(s) for s in segments]})


