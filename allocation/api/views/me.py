"""Who am I, and how a REST client gets (and gives back) its token.

Invariants: the login is throttled per client address and per username and
answers the token with its ``expires_at``; ``DELETE`` revokes the token it is
called with. The rules live in ``allocation.services.tokens`` and
``allocation.api.authentication``.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from allocation import selectors
from allocation.api.authentication import ExpiringTokenAuthentication, LoginAddressThrottle, LoginUsernameThrottle
from allocation.services import tokens


class MembershipOutput(serializers.Serializer):
    tenant = serializers.CharField(source="tenant.slug")
    tenant_name = serializers.CharField(source="tenant.name")
    role = serializers.CharField()


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    roles = serializers.ListField(child=serializers.CharField())
    memberships = MembershipOutput(many=True)


class MeView(APIView):
    @extend_schema(responses=MeOutput, summary="The authenticated user, roles and tenants")
    def get(self, request: Request) -> Response:
        user = request.user
        data = {
            "username": user.get_username(),
            "email": getattr(user, "email", ""),
            "roles": sorted(selectors.global_roles(user=user)),
            "memberships": selectors.memberships_of(user=user),
        }
        return Response(MeOutput(data).data)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")
    expires_at = serializers.DateTimeField(
        help_text="After this the token answers 401 (`token_expired`); log in again for a new one."
    )

    class Meta:
        ref_name = "ApiToken"


class TokenView(ObtainAuthToken):
    """POST: log in (throttled per address and per username); DELETE: revoke the token presented."""

    throttle_classes = (LoginAddressThrottle, LoginUsernameThrottle)
    authentication_classes = (ExpiringTokenAuthentication,)

    def get_throttles(self) -> list[BaseThrottle]:
        return super().get_throttles() if self.request.method == "POST" else []

    def get_permissions(self) -> list[BasePermission]:
        return [IsAuthenticated()] if self.request.method == "DELETE" else []

    def perform_authentication(self, request: Request) -> None:
        # A login reads no Authorization header: a stale token sent along must not refuse it.
        if request.method == "DELETE":
            super().perform_authentication(request)

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        seconds = math.ceil(wait) if wait is not None else None
        refusal = exceptions.Throttled(
            detail=_("Too many login attempts; try again in %(seconds)s seconds.")
            % {"seconds": seconds if seconds is not None else 60},
            code="throttled",
        )
        refusal.wait = seconds  # type: ignore[attr-defined]  # DRF's handler turns it into Retry-After
        raise refusal

    @extend_schema(
        summary="Exchange a username and password for an API token",
        description="Returns your token while it is valid (see `expires_at`), a new one once it expired. "
        "Logins are limited per client address and per username: over the limit the answer is 429 "
        "with `Retry-After` (seconds).",
        responses={
            200: TokenOutput,
            400: OpenApiResponse(description="A wrong username or password (`non_field_errors`), or a field missing."),
            429: OpenApiResponse(
                description="Too many logins from this address or for this username; try again "
                "after `Retry-After` seconds."
            ),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = tokens.api_token_issue(user=serializer.validated_data["user"])
        return Response(TokenOutput({"token": token.key, "expires_at": tokens.token_expires_at(token)}).data)

    @extend_schema(
        summary="Revoke the token you present (log out your API clients)",
        request=None,
        responses={204: None, 401: OpenApiResponse(description="No token, or an unknown, revoked or expired one.")},
    )
    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tokens.api_tokens_revoke(actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
