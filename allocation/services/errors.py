"""The errors services raise; both front doors turn them into field errors.

Invariant: a ``ServiceError`` always names the field it is about (or
``"non_field_errors"``), so the API answers 400 with ``fields`` and a form
puts the message under the right input.
"""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, field: str, message: str, *, code: str = "invalid", **extra: object) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code
        # Machine-readable details a client can act on (e.g. earliest_start).
        self.extra = extra

    def as_dict(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}


class Conflict(ServiceError):
    """The request was fine but the world changed under it (HTTP 409)."""

    def __init__(self, field: str, message: str, *, code: str = "conflict", **extra: object) -> None:
        super().__init__(field, message, code=code, **extra)


class NotAllowed(Exception):
    """The actor may see the object but not do this to it (HTTP 403)."""


class IdempotencyMismatch(ServiceError):
    """An idempotency key reused with a different body (HTTP 422)."""
