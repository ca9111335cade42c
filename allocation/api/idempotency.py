"""``Idempotency-Key`` for the API's creates, as one decorator on the view's ``create``.

Invariants:
- without the header the create runs as if the decorator were not there;
- with it, the create runs in one transaction with its key
  (``allocation.services.idempotency``): the first request answers as the
  create does (201/202) and stores that answer; a replay (same key, same
  body, same user and operation) answers it again with 200 and
  ``Idempotent-Replayed: true`` and creates nothing; the same key with
  another body is a 422 (``idempotency_mismatch``). Only a success is
  stored: a refused create stores nothing, so a corrected retry may reuse
  the key;
- a key is at most 120 printable characters, else a 400 naming
  ``Idempotency-Key``;
- the decorator documents the header in the operation's OpenAPI schema.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from allocation.services import idempotency as services

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    description=f"Any unique string up to {services.MAX_KEY_LENGTH} characters, to retry safely: a replay of the "
    "same body answers 200 with the first answer and `Idempotent-Replayed: true`, creating nothing; "
    "the same key with another body answers 422.",
)

View = Callable[..., Response]


def idempotency_key(request: Request) -> str | None:
    """The request's key, or None without one; a 400 naming the header for a key that cannot be one."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return None
    if len(key) > services.MAX_KEY_LENGTH:
        raise ValidationError(
            {IDEMPOTENCY_HEADER: [_("At most %(count)s characters.") % {"count": services.MAX_KEY_LENGTH}]}
        )
    if not key.isprintable():
        raise ValidationError({IDEMPOTENCY_HEADER: [_("Use printable characters only.")]})
    return key


def _body(request: Request) -> Any:
    data = request.data
    # A form body (a QueryDict) may repeat a field; all its values count.
    return {name: data.getlist(name) for name in data} if hasattr(data, "getlist") else data


def idempotent(scope: str) -> Callable[[View], View]:
    """Make a viewset's ``create`` honour ``Idempotency-Key`` under ``scope`` (the operation's name)."""

    def decorate(create: View) -> View:
        @functools.wraps(create)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = idempotency_key(request)
            if key is None:
                return create(view, request, *args, **kwargs)
            with transaction.atomic():
                claim = services.idempotency_claim(
                    user=request.user, scope=scope, key=key, fingerprint=services.request_fingerprint(_body(request))
                )
                if isinstance(claim, services.Replay):
                    return Response(claim.body, status=status.HTTP_200_OK, headers={REPLAYED_HEADER: "true"})
                response = create(view, request, *args, **kwargs)
                if status.is_success(response.status_code):
                    services.idempotency_complete(claim=claim, status=response.status_code, body=response.data)
                else:
                    transaction.set_rollback(True)  # a refusal keeps no key (and created nothing to keep)
            return response

        return extend_schema(parameters=[IDEMPOTENCY_PARAMETER])(wrapper)

    return decorate
