"""REST API for host analytics (host, co-hosts, staff): the report as JSON, and as CSV."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms import selectors as rooms_selectors
from rooms.api.schema import ApiSchema, errors

from . import export, selectors


class SampleSerializer(serializers.Serializer):
    at = serializers.DateTimeField(read_only=True)
    listeners = serializers.IntegerField(read_only=True)
    reactions = serializers.IntegerField(read_only=True, help_text="Reactions so far.")


class ReportSerializer(serializers.Serializer):
    space = serializers.CharField(source="space.code", read_only=True)
    state = serializers.CharField(source="space.state", read_only=True)
    peak_listeners = serializers.IntegerField(source="peak", read_only=True)
    unique_listeners = serializers.IntegerField(source="unique", read_only=True)
    listener_seconds = serializers.FloatField(read_only=True)
    average_listening_seconds = serializers.FloatField(
        read_only=True, help_text="Listener-seconds over unique listeners: nothing is kept per listener.")
    speakers = serializers.IntegerField(read_only=True, help_text="Different people seen on stage.")
    reactions = serializers.IntegerField(read_only=True)
    replay_plays = serializers.IntegerField(read_only=True)
    clip_plays = serializers.IntegerField(read_only=True)
    samples = SampleSerializer(many=True, read_only=True, help_text="The listener count every few seconds while live.")


class SpaceAnalyticsView(APIView):
    schema = ApiSchema()

    def report(self, request, code):
        space = rooms_selectors.space_get(code=code)
        selectors.require_viewer(space=space, user=request.user)
        return selectors.space_report(space=space)

    @extend_schema(responses={200: ReportSerializer, **errors(401, 403)})
    def get(self, request, code):
        return Response(ReportSerializer(self.report(request, code)).data)


class SpaceAnalyticsCsvView(SpaceAnalyticsView):
    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per sample, then the totals."),
            **errors(401, 403),
        },
    )
    def get(self, request, code):
        report = self.report(request, code)
        response = HttpResponse(export.report_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="space-{code}-analytics.csv"'
        return response
