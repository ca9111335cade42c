"""Quotas in force: the normalized hours a tenant may book, per resource.

Invariants:
- read-only; quotas are written only by ``allocation.services.rounds.round_commit``;
- every row comes through ``selectors.quotas_visible_to``: only quotas of the
  period's *committed* round (a superseded round's grants drop out of this
  list but stay in the audit trail), and only the user's tenants' unless the
  user is on the committee or an operator; any other id is a 404;
- list pages run a bounded number of queries (relations joined by the selector).
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import selectors
from allocation.api.filters import QuotaFilter
from allocation.api.views.periods import visible_or_404
from allocation.models import Quota


class QuotaViewSet(viewsets.GenericViewSet):
    filterset_class = QuotaFilter

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        period = serializers.CharField(source="period.slug")
        tenant = serializers.CharField(source="tenant.slug")
        tenant_name = serializers.CharField(source="tenant.name")
        request = serializers.IntegerField(source="request_id")
        request_title = serializers.CharField(source="request.title")
        round = serializers.IntegerField(source="round_id")
        site = serializers.CharField(source="inventory.gigafactory.slug")
        chip_type = serializers.CharField(source="inventory.chip_type.slug")
        gpu_hours = serializers.FloatField()
        normalized_hours = serializers.FloatField()

        class Meta:
            ref_name = "Quota"

    def get_queryset(self) -> QuerySet[Quota]:
        if getattr(self, "swagger_fake_view", False):
            return Quota.objects.none()
        return selectors.quotas_visible_to(user=self.request.user)

    @extend_schema(
        summary="List the quotas in force you may see",
        description="Grants of each period's committed round. Filter by period, tenant, site, "
        "chip_type (slugs) or request (id).",
        responses=OutputSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        qs = self.filter_queryset(self.get_queryset()).order_by(
            "period__starts_at", "tenant__name", "inventory__gigafactory__slug", "inventory__chip_type__slug", "pk"
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(summary="A quota in force", responses=OutputSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.OutputSerializer(visible_or_404(self.get_queryset(), pk)).data)
