"""Idempotency keys: what a create answered, so a retry gets the same answer and creates nothing.

Invariants:
- one row per (user, scope, key): the database refuses a second, so two
  requests with the same key never both create; the second waits on the
  first's uncommitted row and then replays it (``allocation.services.idempotency``);
- a row is written in the transaction of the create it answers for (first,
  so that it holds the key while the create runs; its answer,
  ``response_status`` and ``response_body``, last), so a rolled-back or
  crashed create leaves no row, and a committed row always has its answer;
- ``fingerprint`` is a hash of the request body: the same key with another
  body is refused, never answered with the first body's result.

Bookings keep their own key on the booking row (``Booking.idempotency_key``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotencyKey(models.Model):
    # Only operators see these rows (in a shell or the database), so the labels stay untranslated.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=60, help_text="The operation, e.g. allocation-requests.create.")
    key = models.CharField(max_length=120)
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)  # null only until the create is done
    response_body = models.JSONField(encoder=DjangoJSONEncoder, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "key"], name="idempotency_key_once_per_user_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
