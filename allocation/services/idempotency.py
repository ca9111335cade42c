"""Idempotency keys for creates: a retry with the same key answers what the first request answered.

Invariants (see ``allocation.models.IdempotencyKey``):
- ``idempotency_claim`` runs inside the create's transaction, before the
  create: it inserts the key, which the database lets only one request per
  (user, scope, key) do. A second request with the same key waits on that
  insert until the first commits (then it replays) or rolls back (then it
  goes ahead and creates); so one key creates at most once, even at once;
- ``idempotency_complete`` stores the answer in the same transaction, so a
  committed key always has the answer it replays;
- the same key with another body is refused (``IdempotencyMismatch``, 422),
  never answered with the first body's result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from allocation.models import IdempotencyKey
from allocation.services.errors import IdempotencyMismatch

MAX_KEY_LENGTH = 120


@dataclass(frozen=True)
class Replay:
    """The answer stored under a key, to be sent again."""

    status: int
    body: Any


def request_fingerprint(body: Any) -> str:
    """A hash of a request body that ignores key order and whitespace."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency_claim(*, user: Any, scope: str, key: str, fingerprint: str) -> IdempotencyKey | Replay:
    """Hold ``key`` for a create about to run (the row), or the answer a request with it got before (a Replay).

    Must run inside the create's transaction, so the key is released if the create fails.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("idempotency_claim must run in the transaction of the create")
    try:
        with transaction.atomic():  # a savepoint: a taken key leaves the outer transaction usable
            return IdempotencyKey.objects.create(user=user, scope=scope, key=key, fingerprint=fingerprint)
    except IntegrityError:
        pass
    # The insert waited for the first request with this key to commit; its row is readable now.
    earlier = IdempotencyKey.objects.get(user=user, scope=scope, key=key)
    if earlier.fingerprint != fingerprint:
        raise IdempotencyMismatch(
            "Idempotency-Key", _("This Idempotency-Key was used with a different request."), code="idempotency_mismatch"
        )
    assert earlier.response_status is not None, "a committed key always holds its answer"
    return Replay(status=earlier.response_status, body=earlier.response_body)


def idempotency_complete(*, claim: IdempotencyKey, status: int, body: Any) -> None:
    """Store the create's answer under its key, in the create's transaction."""
    claim.response_status = status
    claim.response_body = body
    claim.save(update_fields=["response_status", "response_body"])
