"""Usage records over REST: operators report what bookings used and correct it; tenants read theirs.

Invariants:
- reporting and adjusting go through ``allocation.services.usage`` (every
  rule lives there): only site operators (or platform admins) may (403
  otherwise); each record is stored or refused on its own, and each
  ``record_id`` is stored once, so a batch re-sent after a timeout creates
  nothing new (the counts say so);
- the answer lists every refused record (index, record id, field, code,
  reason): 201 when anything was stored, 200 when nothing was new; when every
  record is refused, the API's one error body (403 if each was refused for its
  tenant's status, else 400) with ``fields`` (``records[i].field``) and the
  same ``refused`` list;
- operators see every record, tenant members their tenants' records only;
- a batch holds at most ``MAX_BATCH`` records.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import selectors
from allocation.api.errors import exception_handler
from allocation.api.fields import MomentField
from allocation.api.filters import MomentFilter
from allocation.api.idempotency import idempotent
from allocation.api.views.resources import resource_key
from allocation.models import UsageRecord
from allocation.services.usage import UsageOutcome, usage_records_adjust, usage_records_report

MAX_BATCH = 1000
EXAMPLE = {
    "records": [
        {"record_id": "lux-2027-01-08-0042", "booking": 42, "at": "2027-01-08T19:00:00Z", "gpu_hours": 590.5},
    ]
}
ADJUST_EXAMPLE = {
    "adjustments": [
        {
            "record_id": "lux-2027-01-08-0042-fix1",
            "corrects": "lux-2027-01-08-0042",
            "gpu_hours": -120,
            "reason": "sacct counted the job's restart twice",
        },
    ]
}
REFUSED_EXAMPLE = {
    "created": 1,
    "already_reported": 0,
    "refused": [
        {
            "index": 1,
            "record_id": "lux-2027-01-08-0043",
            "field": "at",
            "code": "outside_window",
            "message": "2030-01-01 00:00 UTC is outside booking 42, which ran from 2027-01-08 09:00 "
            "to 2027-01-08 19:00 UTC (give or take 1 h).",
        }
    ],
}


class RefusalSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the record in the batch, from 0.")
    record_id = serializers.CharField()
    field = serializers.CharField(
        help_text="The record's field at fault: record_id, booking, at, gpu_hours, corrects, reason."
    )
    code = serializers.CharField(
        help_text="duplicate, conflict, not_found, tenant_status, not_started, "
        "outside_window, in_future, invalid, over_booking, below_zero."
    )
    message = serializers.CharField()

    class Meta:
        ref_name = "UsageRefusal"


class UsageFilter(django_filters.FilterSet):
    booking = django_filters.NumberFilter(field_name="booking_id", help_text="Booking id.")
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="Tenant slug.")
    site = django_filters.CharFilter(field_name="booking__inventory__gigafactory__slug", help_text="Site slug.")
    chip_type = django_filters.CharFilter(field_name="booking__inventory__chip_type__slug", help_text="Chip type slug.")
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
            child=RecordSerializer(), allow_empty=False, max_length=MAX_BATCH
        )

        class Meta:
            ref_name = "UsageBatchInput"

    class AdjustSerializer(serializers.Serializer):
        class AdjustmentSerializer(serializers.Serializer):
            record_id = serializers.CharField(max_length=120, help_text="The adjustment's own id; stored once.")
            corrects = serializers.CharField(
                max_length=120, help_text="The `record_id` of the reported record it corrects."
            )
            gpu_hours = serializers.FloatField(help_text="Signed: negative takes GPU-hours off the record.")
            reason = serializers.CharField(max_length=500, help_text="Why; kept in the audit trail.")

            class Meta:
                ref_name = "UsageAdjustmentInput"

        adjustments: serializers.ListSerializer[Any] = serializers.ListSerializer(
            child=AdjustmentSerializer(), allow_empty=False, max_length=MAX_BATCH
        )

        class Meta:
            ref_name = "UsageAdjustmentBatchInput"

    class CountsSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        already_reported = serializers.IntegerField(help_text="Records whose id was stored before (same figures).")
        refused = RefusalSerializer(many=True, help_text="The refused records; the others were kept.")

        class Meta:
            ref_name = "UsageBatchResult"

    class ErrorSerializer(serializers.Serializer):
        class BodySerializer(serializers.Serializer):
            code = serializers.CharField(help_text="invalid, permission_denied, ...")
            message = serializers.CharField()
            fields = serializers.DictField(  # type: ignore[assignment]
                child=serializers.ListField(child=serializers.CharField()),
                required=False,
                help_text="`records[i].field` -> reasons, when every record of the batch was refused.",
            )
            refused = RefusalSerializer(many=True, required=False, help_text="Every record, refused.")

            class Meta:
                ref_name = "UsageErrorBody"

        error = BodySerializer()

        class Meta:
            ref_name = "UsageError"

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
        corrects = serializers.CharField(
            source="corrects.record_id",
            allow_null=True,
            default=None,
            help_text="An adjustment: the record it corrects (else null).",
        )
        reason = serializers.CharField(help_text="An adjustment's reason.")

        class Meta:
            ref_name = "UsageRecord"

        def get_resource(self, obj: UsageRecord) -> str:
            inv = obj.booking.inventory
            assert inv is not None, "usage is only reported against a placed booking"
            return resource_key(inv)

    def get_queryset(self) -> QuerySet[UsageRecord]:
        if getattr(self, "swagger_fake_view", False):
            return UsageRecord.objects.none()
        return selectors.usage_visible_to(user=self.request.user)

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
        "(201 if anything was new, else 200). Each record is checked on its own and refused with "
        "its reason in `refused` while the rest is kept: a known id with other figures, an unknown "
        "booking, a booking that never started (pending, expired, cancelled before its start) or "
        "whose tenant is not verified, a time outside the booking's window (give or take "
        "`USAGE_WINDOW_TOLERANCE_HOURS`) or in the future, or more GPU-hours than the booking's "
        "chips x hours with what is recorded already. When every record is refused: 403 if all were "
        "for their tenant's status, else 400, with `fields` and `refused`. Corrections go to "
        "`adjustments/`.",
        request=InputSerializer,
        responses={201: CountsSerializer, 200: CountsSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        examples=[
            OpenApiExample("One record", value=EXAMPLE, request_only=True),
            OpenApiExample("One record refused", value=REFUSED_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    @idempotent("usage-records.report")
    def create(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        records: list[dict[str, Any]] = [dict(r) for r in serializer.validated_data["records"]]
        outcome = usage_records_report(actor=request.user, records=records)
        return self._answer(outcome, "records")

    @extend_schema(
        summary="Correct usage records with adjustments (site operators)",
        description=f"Up to {MAX_BATCH} adjustments, each with its own `record_id` (stored once), the "
        "`record_id` it `corrects` (a reported record), signed `gpu_hours` and a `reason`. An "
        "adjustment is dated as the record it corrects; the record with its adjustments never goes "
        "below 0, nor the booking's total above its chips x hours. Audited; answered like a report.",
        request=AdjustSerializer,
        responses={201: CountsSerializer, 200: CountsSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        examples=[OpenApiExample("One correction", value=ADJUST_EXAMPLE, request_only=True)],
    )
    @action(detail=False, methods=["post"], url_path="adjustments")
    @idempotent("usage-records.adjust")
    def adjust(self, request: Request) -> Response:
        serializer = self.AdjustSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        adjustments: list[dict[str, Any]] = [dict(a) for a in serializer.validated_data["adjustments"]]
        outcome = usage_records_adjust(actor=request.user, adjustments=adjustments)
        return self._answer(outcome, "adjustments")

    def _answer(self, outcome: UsageOutcome, name: str) -> Response:
        """201 if anything was stored, 200 if nothing was new; the error body if every record was refused."""
        body = outcome.as_dict()
        if outcome.created or outcome.already_reported:
            code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
            return Response(self.CountsSerializer(body).data, status=code)
        reasons = {f"{name}[{r.index}].{r.field}": [r.message] for r in outcome.refused}
        if all(r.code == "tenant_status" for r in outcome.refused):
            error: exceptions.APIException = exceptions.PermissionDenied(
                " ".join(dict.fromkeys(r.message for r in outcome.refused))
            )
        else:
            error = exceptions.ValidationError(reasons)
        response = exception_handler(error, self.get_exception_handler_context())
        assert response is not None
        response.data["error"].update({"fields": reasons, "refused": body["refused"]})
        return response
