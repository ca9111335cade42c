"""Who am I, and how a REST client gets its token."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import selectors


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


@extend_schema(summary="Exchange a username and password for an API token")
class TokenView(ObtainAuthToken):
    pass
