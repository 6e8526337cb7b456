"""How each object looks on the wire: the one definition shared by API responses and websocket
frames, and published in the OpenAPI schema (``/api/schema/``).

Field names are a public contract: add fields, never rename or drop one. A field that can be
``null`` says so (``allow_null=True``), so the schema never promises a string where a null comes.

``participant_wire`` and ``space_wire`` give the same JSON as plain dicts, for code that does not
render through DRF (websocket frames).
"""

from datetime import UTC

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from rooms import selectors
from rooms.models import Participant, Space


class UTCDateTimeField(serializers.DateTimeField):
    """A moment as ISO-8601 in UTC with a ``Z``: ``2026-12-01T17:00:00Z``."""

    def to_representation(self, value):
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UserSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)


class ParticipantSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="uid", read_only=True, help_text="Random, stable; never sequential.")
    name = serializers.CharField(source="display_name", read_only=True)
    role = serializers.ChoiceField(choices=Participant.Role.choices, read_only=True)
    muted = serializers.BooleanField(read_only=True, help_text="Muted by the host or a co-host: only they lift it.")
    self_muted = serializers.BooleanField(
        read_only=True, help_text="The speaker muted their own microphone: they may unmute themself."
    )
    signed_in = serializers.SerializerMethodField()
    present = serializers.BooleanField(source="is_present", read_only=True)
    hand_raised = serializers.SerializerMethodField()
    joined_at = UTCDateTimeField(read_only=True)

    class Meta:
        model = Participant
        fields = ["id", "name", "role", "muted", "self_muted", "signed_in", "present", "hand_raised", "joined_at"]
        read_only_fields = fields

    def get_signed_in(self, obj) -> bool:
        return obj.user_id is not None

    def get_hand_raised(self, obj) -> bool:
        return obj.hand_raised_at is not None


class PinnedLinkSerializer(serializers.Serializer):
    url = serializers.CharField(read_only=True, help_text="An http or https address.")
    label = serializers.CharField(read_only=True, help_text="May be empty: show the address then.")


class SpaceSerializer(serializers.ModelSerializer):
    """A Space. ``share_url`` follows the address the request came to when there is a request
    (``context["request"]``); websocket frames, made without one, use ``SITE_URL``."""

    code = serializers.CharField(read_only=True, help_text="The share code: addresses the Space in URLs.")
    title = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True, help_text="May be empty.")
    state = serializers.ChoiceField(choices=Space.State.choices, read_only=True)
    host = UserSerializer(read_only=True)
    record = serializers.BooleanField(read_only=True)
    scheduled_for = UTCDateTimeField(
        read_only=True, allow_null=True, help_text="When a scheduled Space starts; null for one started right away."
    )
    started_at = UTCDateTimeField(read_only=True, allow_null=True, help_text="Null until the Space goes live.")
    ended_at = UTCDateTimeField(read_only=True, allow_null=True, help_text="Null until the Space ends.")
    share_url = serializers.SerializerMethodField()
    listener_count = serializers.SerializerMethodField()
    peak_listeners = serializers.IntegerField(read_only=True)
    speakers = serializers.SerializerMethodField(help_text="Host, co-hosts and speakers of a live Space; else empty.")
    replay_url = serializers.CharField(
        read_only=True, help_text="The recording of an ended Space, while it is kept; empty otherwise."
    )
    replay_expires_at = UTCDateTimeField(
        read_only=True, allow_null=True, help_text="Until when the replay is kept; null without a replay."
    )
    pinned = serializers.SerializerMethodField(help_text="The link the host pinned for the room while it is live; null: none.")

    class Meta:
        model = Space
        fields = [
            "code",
            "title",
            "description",
            "state",
            "host",
            "record",
            "scheduled_for",
            "started_at",
            "ended_at",
            "share_url",
            "listener_count",
            "peak_listeners",
            "speakers",
            "replay_url",
            "replay_expires_at",
            "pinned",
        ]
        read_only_fields = fields

    def get_share_url(self, obj) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(obj.get_absolute_url()) if request is not None else obj.share_url

    @extend_schema_field(PinnedLinkSerializer(allow_null=True))
    def get_pinned(self, obj):
        if not obj.pinned_url or obj.state != Space.State.LIVE:
            return None
        return {"url": obj.pinned_url, "label": obj.pinned_label}

    def get_listener_count(self, obj) -> int:
        annotated = getattr(obj, "listener_count", None)  # rows only: add the signed-out listeners
        return annotated + selectors.signed_out_count(space=obj) if annotated is not None else selectors.listener_count(space=obj)

    @extend_schema_field(ParticipantSerializer(many=True))
    def get_speakers(self, obj):
        if obj.state != Space.State.LIVE:
            return []
        return ParticipantSerializer(selectors.stage(space=obj), many=True).data


class IceServerSerializer(serializers.Serializer):
    """One entry of ``RTCPeerConnection``'s ``iceServers`` (WebRTC's RTCIceServer): a TURN server
    (coturn) and a credential for it, signed by the server (``rooms.media.turn``)."""

    urls = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text="turn:HOST:PORT?transport=udp, the same over tcp, and turns:HOST:TLS_PORT?transport=tcp when TURN over TLS is on",
    )
    username = serializers.CharField(
        read_only=True, help_text="<expiry, unix time>:<holder>; relays can be opened with it until the expiry"
    )
    credential = serializers.CharField(read_only=True, help_text="base64 HMAC-SHA1 of username with the TURN server's secret")


class _MediaCommon(serializers.Serializer):
    server = serializers.CharField(read_only=True, help_text="Janus URL for browsers; empty: ws://<this host>:ws_port")
    ws_port = serializers.IntegerField(read_only=True)
    token = serializers.CharField(read_only=True, help_text="Signed, expiring Janus token for this role's plugin")
    room = serializers.IntegerField(read_only=True)
    ice_servers = IceServerSerializer(
        many=True, read_only=True,
        help_text="For RTCPeerConnection's iceServers: TURN relays for networks that block UDP to the media server "
        "(fetch again to reconnect: the credential expires); empty when there is no TURN server",
    )


class ListenerMediaSerializer(_MediaCommon):
    """A listener hears the room's mix from a Streaming mountpoint."""

    kind = serializers.ChoiceField(choices=["listener"], read_only=True)
    mountpoint = serializers.IntegerField(read_only=True)
    pin = serializers.CharField(
        read_only=True, help_text="Opens this Space's mountpoint; it changes when someone is removed (fetch again)"
    )


class SpeakerMediaSerializer(_MediaCommon):
    """A host, co-host or speaker joins the AudioBridge room."""

    kind = serializers.ChoiceField(choices=["speaker"], read_only=True)
    participant_token = serializers.CharField(read_only=True, help_text="Lets you into the room's mix while you are on stage")
    participant_id = serializers.IntegerField(
        read_only=True, help_text="Your id in the mix, given by the server; join under any other and you are put out"
    )
    display = serializers.CharField(read_only=True)
    muted = serializers.BooleanField(read_only=True)


MEDIA_SERIALIZERS = {"listener": ListenerMediaSerializer, "speaker": SpeakerMediaSerializer}


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="MediaCredentials",
        serializers=MEDIA_SERIALIZERS,
        resource_type_field_name="kind",
        many=False,
    )
)
class MediaCredentialsSerializer(serializers.Serializer):
    """Media credentials for one role (``rooms.media.credentials``): the fields depend on ``kind``."""

    def to_representation(self, instance):
        return MEDIA_SERIALIZERS[instance["kind"]](instance).data


class MediaResultSerializer(serializers.Serializer):
    media = MediaCredentialsSerializer(
        read_only=True, allow_null=True, help_text="Null unless you are present in a live Space with a media room."
    )


class JoinResultSerializer(serializers.Serializer):
    participant = ParticipantSerializer(read_only=True)
    space = SpaceSerializer(read_only=True)
    media = MediaCredentialsSerializer(
        read_only=True, allow_null=True, help_text="Null unless the Space is live and has a media room."
    )


def _plain(value):
    """DRF's ReturnDict/ReturnList (and nested ordered dicts) as plain dicts and lists."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def participant_wire(participant: Participant) -> dict:
    """A participant as the API shows it, as a plain JSON-ready dict."""
    return _plain(ParticipantSerializer(participant).data)


def space_wire(space: Space) -> dict:
    """A Space as the API shows it, as a plain JSON-ready dict."""
    return _plain(SpaceSerializer(space).data)


def media_wire(credentials: dict | None) -> dict | None:
    """Media credentials (``rooms.selectors.media_credentials``) as the API shows them."""
    return None if credentials is None else _plain(MediaCredentialsSerializer(credentials).data)


# --- Errors: rendered by rooms.api.errors.exception_handler --------------------------------------


class ErrorSerializer(serializers.Serializer):
    """``{"detail", "code"}``; some codes add keys of their own (below)."""

    detail = serializers.CharField(read_only=True, help_text="A sentence a person can act on.")
    code = serializers.CharField(read_only=True, help_text="Stable, part of the contract: never renamed.")


class BadRequestErrorSerializer(ErrorSerializer):
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Validation errors only: the messages per field.",
    )
    latest_allowed = UTCDateTimeField(
        required=False, help_text="`too_far_ahead` only: the latest start time allowed now."
    )


class SpaceRefSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    url = serializers.CharField(read_only=True)


class ConflictErrorSerializer(ErrorSerializer):
    space = SpaceRefSerializer(
        required=False,
        help_text="`one_scheduled_space` and `one_live_space`: the Space you already have.",
    )
