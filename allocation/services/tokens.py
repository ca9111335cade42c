"""API tokens: issued at login, expiring, revocable.

Invariants:
- a user holds at most one token (DRF's ``Token``); it is valid for
  ``settings.API_TOKEN_TTL_HOURS`` from when it was issued, never extended;
- logging in returns the user's token while it is valid, and replaces an
  expired one with a new key, so an expired key never works again;
- revoking deletes the token, so the key answers 401 from the next request
  on; each revocation writes an audit event (never the key itself).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from allocation.services.audit import audit_record


def token_expires_at(token: Token) -> datetime:
    return token.created + timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def token_is_expired(token: Token, *, now: datetime | None = None) -> bool:
    return (now or timezone.now()) >= token_expires_at(token)


@transaction.atomic
def api_token_issue(*, user: Any) -> Token:
    """The user's valid token, a new one if it had none or its token expired."""
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and not token_is_expired(token):
        return token
    if token is not None:
        token.delete()
    try:
        with transaction.atomic():
            return Token.objects.create(user=user)
    except IntegrityError:
        # Another login of the same user issued one first: both get that one.
        return Token.objects.get(user=user)


@transaction.atomic
def api_tokens_revoke(*, actor: Any) -> int:
    """Revoke the actor's API tokens; returns how many there were."""
    deleted, _ = Token.objects.filter(user=actor).delete()
    if deleted:
        audit_record(actor=actor, action="api_token.revoked", obj=actor, after={"tokens": deleted})
    return deleted
