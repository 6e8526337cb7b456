"""What the OpenAPI schema says about errors: every status an operation can really return.

Views name the errors their services raise (``errors(400, 403, 409)``); ``ApiSchema`` adds the
ones the framework around every view can produce, read off the view itself:

- 401 wherever a request is authenticated at all: a wrong ``Authorization: Token`` is refused on
  every endpoint, even those open to everyone;
- 403 for unsafe methods under session authentication: a failed CSRF check;
- 400 (malformed JSON, not an object) and 415 (not JSON) where a request body is read;
- 404 for operations with path parameters (unknown code or id) and for pages past the end;
- 429 where a throttle applies;
- 503 everywhere: the database does not answer (``spaces.outages``), with ``Retry-After``.

Query parameters are marked ``allowEmptyValue``: every view reads ``?state=`` as no ``state``.

Bodies are the ones ``rooms.api.errors.exception_handler`` renders, described in ``rooms.wire``.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_list_serializer
from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication

from rooms.wire import BadRequestErrorSerializer, ConflictErrorSerializer, ErrorSerializer

DESCRIBED = {
    400: "Bad input: `code` says which rule, `detail` what to change; validation errors add `errors` "
    "per field, `too_far_ahead` adds `latest_allowed`; a body that is not a JSON object is `not_an_object`.",
    401: "Not signed in (`not_authenticated`).",
    403: "Signed in, but not allowed (`permission_denied`, `host_only`, `host_role_fixed`, "
    "`sign_in_to_speak`, `removed`).",
    404: "No such Space, participant or notification (`space_not_found`, `participant_not_found`, "
    "`notification_not_found`).",
    409: "Not possible in the current state (`not_live`, `invalid_state`, `not_participant`, `no_replay`, "
    "`one_scheduled_space` and `one_live_space` with `space`, `speaker_limit`, `cohost_limit`, ...).",
    415: "Send JSON with `Content-Type: application/json` (`unsupported_media_type`).",
    429: "Too many attempts; wait and try again (`throttled`).",
    503: "The database does not answer; try again after `Retry-After` seconds (`database_unavailable`).",
}

GENERIC = {
    400: "JSON that does not parse is `malformed_request`.",
    401: "A wrong `Authorization: Token` is refused (`authentication_failed`), even where signing in is optional.",
    403: "Under session authentication, a request that changes something needs a valid CSRF token "
    "(`permission_denied`).",
    404: "Nothing at this address, or a page past the end (`not_found`).",
    415: DESCRIBED[415],
    429: DESCRIBED[429],
    503: DESCRIBED[503],
}

BODIES = {400: BadRequestErrorSerializer, 409: ConflictErrorSerializer}


def error_response(status: int, description: str) -> OpenApiResponse:
    return OpenApiResponse(BODIES.get(status, ErrorSerializer), description=description)


def errors(*statuses: int) -> dict:
    """The error responses a view's services can produce; ``ApiSchema`` adds the generic ones."""
    return {status: error_response(status, DESCRIBED[status]) for status in statuses}


class ApiSchema(AutoSchema):
    """drf-spectacular's schema, plus the errors every view can meet (see the module docstring)."""

    def generic_errors(self, success) -> set[int]:
        view = self.view
        statuses = {503}
        authenticators = view.get_authenticators()
        if authenticators:
            statuses.add(401)
            unsafe = self.method not in ("GET", "HEAD", "OPTIONS", "TRACE")
            if unsafe and any(isinstance(a, SessionAuthentication) for a in authenticators):
                statuses.add(403)
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            statuses |= {400, 415}
        paginated = is_list_serializer(success) and getattr(view, "pagination_class", None)
        if "{" in self.path or paginated:
            statuses.add(404)
        if getattr(view, "throttle_classes", None):
            statuses.add(429)
        return statuses

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] == "query":
                # Every query parameter of this API reads an empty value as one left out.
                parameter["allowEmptyValue"] = True
        return parameters

    def _get_pagination_parameters(self):
        parameters = super()._get_pagination_parameters()
        for parameter in parameters:
            if parameter["name"] == "page":
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = "A page number, 1 when left out; `last` for the last page. Past the end: 404."
        return parameters

    def _get_response_bodies(self, direction="response"):
        # Runs after any @extend_schema override of the responses, which it completes.
        responses = super()._get_response_bodies(direction)
        success = self.get_response_serializers()
        if isinstance(success, dict):
            success = next((body for code, body in success.items() if str(code).startswith("2")), None)
        for status in sorted(self.generic_errors(success)):
            key = str(status)
            if key in responses:
                described = responses[key].get("description", "")
                if GENERIC[status] not in described:
                    responses[key]["description"] = f"{described} {GENERIC[status]}".strip()
            else:
                responses[key] = self._get_response_for_code(
                    error_response(status, GENERIC[status]), key, direction=direction
                )
        return dict(sorted(responses.items(), key=lambda item: item[0]))
