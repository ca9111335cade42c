"""Usage records over REST: operators report what bookings used; tenants read theirs.

Invariants:
- reporting goes through ``allocation.services.operations.usage_records_report``:
  only site operators (or platform admins) may report (403 otherwise), a batch
  is stored whole or not at all, and each ``record_id`` is stored once, so a
  batch re-sent after a timeout creates nothing new (the counts say so);
- operators see every record, tenant members their tenants' records only;
- a batch holds at most ``MAX_BATCH`` records.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import policies, selectors
from allocation.api.fields import MomentField
from allocation.api.filters import MomentFilter
from allocation.api.views.resources import resource_key
from allocation.models import UsageRecord
from allocation.services.operations import usage_records_report

MAX_BATCH = 1000
EXAMPLE = {"records": [
    {"record_id": "lux-2027-01-08-0042", "booking": 42, "at": "2027-01-08T19:00:00Z", "gpu_hours": 590.5},
]}


class UsageFilter(django_filters.FilterSet):
    booking = django_filters.NumberFilter(field_name="booking_id", help_text="Booking id.")
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="Tenant slug.")
    site = django_filters.CharFilter(field_name="booking__inventory__gigafactory__slug", help_text="Site slug.")
    chip_type = django_filters.CharFilter(field_name="booking__inventory__chip_type__slug",
                                          help_text="Chip type slug.")
    since = MomentFilter(field_name="at", lookup_expr="gte", help_text="At or after (UTC).")
    until = MomentFilter(field_name="at", lookup_expr="lt", help_text="Before (UTC).")

    class Meta:
        model = UsageRecord
        fields = ["booking", "tenant", "site", "chip_type", "since", "until"]


class UsageRecordViewSet(viewsets.GenericViewSet):
    filterset_class = UsageFilter

    class InputSerializer(serializers.Serializer):
        class RecordSerializer(serializers.Serializer):
            record_id = serializers.CharField(max_length=120, help_text="The site's own id; stored once.")
            booking = serializers.IntegerField(help_text="Booking id.")
            at = MomentField(help_text="When the usage happened (UTC).")
            gpu_hours = serializers.FloatField(min_value=0, help_text="At most the booking's chips x hours.")

            class Meta:
                ref_name = "UsageRecordInput"

        # What RecordSerializer(many=True, allow_empty=False, max_length=MAX_BATCH) builds, spelled out:
        # the stubs' Serializer.__init__ does not list the ListSerializer-only max_length.
        records: serializers.ListSerializer[Any] = serializers.ListSerializer(
            child=RecordSerializer(), allow_empty=False, max_length=MAX_BATCH)

        class Meta:
            ref_name = "UsageBatchInput"

    class CountsSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        already_reported = serializers.IntegerField(help_text="Records whose id was stored before (same figures).")

        class Meta:
            ref_name = "UsageBatchResult"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        record_id = serializers.CharField()
        booking = serializers.IntegerField(source="booking_id")
        tenant = serializers.CharField(source="tenant.slug")
        resource = serializers.SerializerMethodField()
        at = serializers.DateTimeField()
        gpu_hours = serializers.FloatField()
        normalized_hours = serializers.FloatField()
        reported_by = serializers.CharField(source="reported_by.username")

        class Meta:
            ref_name = "UsageRecord"

        def get_resource(self, obj: UsageRecord) -> str:
            inv = obj.booking.inventory
            assert inv is not None, "usage is only reported against a placed booking"
            return resource_key(inv)

    def get_queryset(self) -> QuerySet[UsageRecord]:
        if getattr(self, "swagger_fake_view", False):
            return UsageRecord.objects.none()
        qs = UsageRecord.objects.select_related("tenant", "reported_by", "booking__inventory__gigafactory",
                                                "booking__inventory__chip_type")
        user = self.request.user
        return qs if policies.is_operator(user) else qs.filter(tenant__in=selectors.tenants_of(user=user))

    @extend_schema(
        summary="List usage records you may see",
        description="Operators see every record, tenant members their tenants'. Newest first.",
        responses=OutputSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()).order_by("-at", "-pk"))
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        summary="Report a batch of usage records (site operators)",
        description=f"Up to {MAX_BATCH} records; each `record_id` is stored once, so re-sending a batch is safe "
                    "(201 if anything was new, else 200). A known id with other figures, an unknown booking or "
                    "more GPU-hours than the booking holds refuses the whole batch (400 naming `records[i]`).",
        request=InputSerializer,
        responses={201: CountsSerializer, 200: CountsSerializer},
        examples=[OpenApiExample("One record", value=EXAMPLE, request_only=True)],
    )
    def create(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        records: list[dict[str, Any]] = [dict(r) for r in serializer.validated_data["records"]]
        counts = usage_records_report(actor=request.user, records=records)
        code = status.HTTP_201_CREATED if counts["created"] else status.HTTP_200_OK
        return Response(self.CountsSerializer(counts).data, status=code)
