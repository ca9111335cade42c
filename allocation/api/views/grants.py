"""Grants: what each tenant may book, where, and how much of it is booked and used.

Invariants:
- read-only; grants are written by ``allocation.services.rounds.round_commit``
  and drawn on by bookings through ``allocation.services.ledger``;
- one row per tenant, period and resource (a grant is spent only there), read
  through ``selectors.grants_visible_to``: only the user's tenants' grants
  unless the user is on the committee or an operator;
- a bounded number of queries whatever the number of grants.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import selectors
from allocation.models import AllocationPeriod, QuotaBalance


class GrantViewSet(viewsets.GenericViewSet):
    filter_backends: list[Any] = []

    class OutputSerializer(serializers.Serializer):
        period = serializers.CharField(source="period.slug")
        tenant = serializers.CharField(source="tenant.slug")
        tenant_name = serializers.CharField(source="tenant.name")
        site = serializers.CharField(source="inventory.gigafactory.slug")
        chip_type = serializers.CharField(source="inventory.chip_type.slug")
        resources = serializers.SerializerMethodField(help_text="Where the grant may be spent (site/chip_type).")
        granted = serializers.FloatField(help_text="Normalized hours that may be booked here.")
        round_granted = serializers.FloatField(help_text="Normalized hours the committed round granted here.")
        booked = serializers.FloatField(help_text="Normalized hours of the bookings placed here.")
        used = serializers.FloatField(help_text="Normalized hours the site reported as used by those bookings.")
        remaining = serializers.FloatField(help_text="granted - booked: what may still be booked here.")
        overdrawn = serializers.BooleanField(
            help_text="The tenant had booked more here than the round granted; "
            "its grant is what it booked, and nothing more can be booked."
        )

        class Meta:
            ref_name = "Grant"

        def get_resources(self, row: selectors.GrantRow) -> list[str]:
            return [str(row.inventory)]

    serializer_class = OutputSerializer

    def get_queryset(self) -> QuerySet[QuotaBalance]:
        # The list is built by ``selectors.grants_visible_to``; the browsable API asks for a
        # queryset only to decide which forms to draw, and there is nothing to write here.
        return QuotaBalance.objects.none()

    @extend_schema(
        summary="List the grants you may see, per tenant, period and resource",
        description="A grant is spent only on its resources: a booking draws on the grant of its "
        "tenant on its resource in the period its start falls in.",
        parameters=[
            OpenApiParameter("period", str, description="Period slug."),
            OpenApiParameter("tenant", str, description="Tenant slug."),
        ],
        responses=OutputSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        period = None
        if slug := request.query_params.get("period", ""):
            period = AllocationPeriod.objects.filter(slug=slug).first() if "\x00" not in slug else None
            if period is None:
                raise ValidationError(
                    {"period": [_("No allocation period has the slug %(slug)s.") % {"slug": slug[:40]}]}
                )
        rows = selectors.grants_visible_to(user=request.user, period=period)
        if tenant := request.query_params.get("tenant", ""):
            rows = [r for r in rows if r.tenant.slug == tenant]
        page = self.paginate_queryset(rows)  # type: ignore[arg-type]
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)
