"""Token login that expires, and the throttles on the login itself.

Invariants:
- a token is valid for ``settings.API_TOKEN_TTL_HOURS`` from when it was
  issued; after that every request with it is a 401 whose ``error.code`` is
  ``token_expired``. The check reads the token row the lookup already
  fetched, so it costs no query (the booking hot path counts them);
- a revoked token is deleted, so it is a 401 like any unknown key;
- the login (``POST /api/v1/auth/token/``) is throttled per client address
  and per username, counted in the Django cache (Redis in production, shared
  by every web process); a throttled login is a 429 with ``Retry-After``.
  Every attempt counts, right or wrong, so a guesser cannot tell from the
  throttle which attempt was right.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.utils import formats
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from allocation.services.tokens import token_expires_at, token_is_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's ``Authorization: Token <key>``, refused once the token is older than its time to live."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        try:
            token = Token.objects.select_related("user").get(key=key)
        except Token.DoesNotExist:
            raise exceptions.AuthenticationFailed(
                _("Unknown or revoked token; get a new one from /api/v1/auth/token/."),
                code="invalid_token",
            ) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("This user account is disabled."), code="user_inactive")
        if token_is_expired(token):
            raise exceptions.AuthenticationFailed(
                _("This token expired on %(expired)s UTC; get a new one from /api/v1/auth/token/.")
                % {"expired": formats.date_format(token_expires_at(token), "Y-m-d H:i")},
                code="token_expired",
            )
        return token.user, token


class _LoginThrottle(SimpleRateThrottle):
    """Counts token logins; the rate is read from settings when used, so it follows the environment."""

    rate_setting = ""

    def get_rate(self) -> str:
        return str(getattr(settings, self.rate_setting))

    @staticmethod
    def _digest(value: str) -> str:
        # Any text a client sends becomes a short, safe cache key.
        return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginAddressThrottle(_LoginThrottle):
    scope = "login_address"
    rate_setting = "LOGIN_THROTTLE_ADDRESS_RATE"

    def get_cache_key(self, request: Request, view: Any) -> str:
        # No address at all (a Unix socket, some WSGI servers) counts as one address, not a 500.
        return self.cache_format % {"scope": self.scope, "ident": self._digest(self.get_ident(request) or "")}


class LoginUsernameThrottle(_LoginThrottle):
    scope = "login_username"
    rate_setting = "LOGIN_THROTTLE_USERNAME_RATE"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data
        username = data.get("username") if hasattr(data, "get") else None
        if not isinstance(username, str) or not username.strip():
            return None  # nothing to guess at; the address throttle still counts it
        # Django's login matches usernames exactly; case-folding here only counts more attempts together.
        return self.cache_format % {"scope": self.scope, "ident": self._digest(username.strip().casefold())}
