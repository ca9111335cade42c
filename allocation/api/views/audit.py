"""The audit trail over REST: who changed what, when, before and after.

Invariants:
- read-only (the table is append-only in the database itself);
- every row comes through ``selectors.audit_visible_to``: a tenant member sees
  the events of their tenants, the committee sees all; any other id is a 404;
- superseded rounds' events stay: nothing here hides history;
- list pages run a bounded number of queries (actor and tenant joined).
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import selectors
from allocation.api.filters import AuditFilter
from allocation.api.views.periods import visible_or_404
from allocation.models import AuditEvent


class AuditEventViewSet(viewsets.GenericViewSet):
    filterset_class = AuditFilter

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        at = serializers.DateTimeField()
        actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
        action = serializers.CharField()
        object_type = serializers.CharField()
        object_id = serializers.CharField()
        tenant = serializers.CharField(source="tenant.slug", allow_null=True, default=None)
        before = serializers.JSONField(allow_null=True)
        after = serializers.JSONField(allow_null=True)

        class Meta:
            ref_name = "AuditEvent"

    def get_queryset(self) -> QuerySet[AuditEvent]:
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        return selectors.audit_visible_to(user=self.request.user)

    @extend_schema(
        summary="List the audit events you may see",
        description="Newest first. Filter by action, object_type, object_id, tenant (slug) and "
        "the time window since (inclusive) / until (exclusive).",
        responses=OutputSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()).order_by("-at", "-id"))
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(summary="An audit event", responses=OutputSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.OutputSerializer(visible_or_404(self.get_queryset(), pk)).data)
