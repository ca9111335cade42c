"""One JSON error format for the whole API.

Invariant: every error body is ``{"error": {"code", "message", "fields"?}}``
where ``fields`` maps each offending field to its messages, so a client
always finds the field it got wrong in the same place.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    body: dict[str, Any] = {"code": code}
    detail = getattr(exc, "detail", None)
    if isinstance(exc, exceptions.ValidationError) and isinstance(detail, dict):
        body["code"] = "invalid"
        body["message"] = "Some fields are not valid: " + ", ".join(str(k) for k in detail) + "."
        body["fields"] = _flatten(detail)
    elif isinstance(detail, list):
        body["message"] = " ".join(str(item) for item in detail)
    else:
        body["message"] = str(detail) if detail is not None else str(exc)
    response.data = {"error": body}
    return response
