"""One place where errors become HTTP responses: ``{"detail": ..., "code": ...}``."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from rooms.errors import NotPermitted, SpaceError, Throttled
from spaces import outages


def _first_message(detail) -> tuple[str, str, str | None]:
    """(field, message, code) of the first error in a DRF ValidationError detail."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            name, message, code = _first_message(value)
            return (name or field), message, code
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return "", str(detail), getattr(detail, "code", None)


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, outages.DATABASE_ERRORS):
        # The database does not answer (spaces.outages): a 503 to try again, not a 500.
        outages.note(request.path if request is not None else "api", exc)
        return Response(dict(outages.BODY), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(outages.RETRY_AFTER)})
    if isinstance(exc, outages.REDIS_ERRORS):
        # Redis does not answer (counts of signed-out listeners, presence, throttles live there).
        outages.logger.warning("Redis unavailable (%s): %s", request.path if request is not None else "api", exc)
        return Response(dict(outages.REDIS_BODY), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(outages.RETRY_AFTER)})
    if isinstance(exc, SpaceError):
        anonymous = request is not None and not request.user.is_authenticated
        if isinstance(exc, NotPermitted) and anonymous:
            return Response(
                {"detail": "Sign in to do that.", "code": "not_authenticated"},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Token"},
            )
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
        return Response(exc.as_dict(), status=exc.status, headers=headers)
    if isinstance(exc, exceptions.ValidationError):
        field, message, code = _first_message(exc.detail)
        detail = f"{field}: {message}" if field and field != "non_field_errors" else message
        body = {"detail": detail, "code": code if code and code != "invalid" else "invalid", "errors": exc.detail}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        codes = {
            exceptions.ParseError: "malformed_request",
            exceptions.UnsupportedMediaType: "unsupported_media_type",
            exceptions.NotAuthenticated: "not_authenticated",
            exceptions.AuthenticationFailed: "authentication_failed",
            exceptions.MethodNotAllowed: "method_not_allowed",
            exceptions.NotFound: "not_found",
            exceptions.PermissionDenied: "permission_denied",
            exceptions.Throttled: "throttled",
        }
        code = next((c for cls, c in codes.items() if isinstance(exc, cls)), exc.default_code)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if isinstance(exc, exceptions.UnsupportedMediaType):
            detail = f"{detail} Send JSON with Content-Type: application/json."
        response.data = {"detail": detail, "code": code}
    return response
