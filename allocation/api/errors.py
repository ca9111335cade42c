"""One JSON error format for the whole API.

Invariant: every error body is ``{"error": {"code", "message", "fields"?}}``
where ``fields`` maps each offending field to its messages, so a client
always finds the field it got wrong in the same place. Domain errors from
the services map to HTTP here and nowhere else: ``ServiceError`` 400,
``Conflict`` 409, ``NotAllowed`` 403, ``IdempotencyMismatch`` (an
Idempotency-Key reused with another body) 422.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from allocation.services.errors import Conflict, IdempotencyMismatch, NotAllowed, ServiceError


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class UnprocessableError(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unprocessable"


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _from_service(exc: Exception) -> Exception:
    # Django's own 404/403 (get_object_or_404, PermissionDenied) get the same body as DRF's.
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, IdempotencyMismatch):
        return UnprocessableError({exc.field: [exc.message]}, code=exc.code)
    if isinstance(exc, Conflict):
        return ConflictError({exc.field: [exc.message]}, code=exc.code)
    if isinstance(exc, ServiceError):
        return exceptions.ValidationError({exc.field: [exc.message]}, code=exc.code)
    if isinstance(exc, NotAllowed):
        return exceptions.PermissionDenied(str(exc))
    return exc


def _first_code(codes: Any) -> str:
    while isinstance(codes, dict | list) and codes:
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return codes if isinstance(codes, str) else "error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    domain_code = exc.code if isinstance(exc, ServiceError) else None
    exc = _from_service(exc)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    detail = exc.detail
    if isinstance(detail, dict):
        fields = _flatten(detail)
        # Domain codes (period_closed, stale_preview, ...) tell a client what
        # happened; DRF's per-field codes (required, blank, ...) all mean "invalid".
        code = domain_code or (
            "invalid" if isinstance(exc, exceptions.ValidationError) else _first_code(exc.get_codes())
        )
        if len(detail) > 1:
            message = _("Some fields are not valid: %(fields)s.") % {"fields": ", ".join(str(k) for k in detail)}
        else:
            message = " ".join(" ".join(v) if isinstance(v, list) else str(v) for v in fields.values())
        body: dict[str, Any] = {"code": code, "message": message, "fields": fields}
    elif isinstance(detail, list):
        body = {"code": _first_code(exc.get_codes()), "message": " ".join(str(item) for item in detail)}
    else:
        body = {"code": _first_code(exc.get_codes()), "message": str(detail)}
    response.data = {"error": body}
    return response
