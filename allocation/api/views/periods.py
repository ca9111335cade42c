"""Allocation periods: what can be asked for, until when, and how much exists.

Invariants:
- periods are not tenant data: every authenticated user sees all of them;
- capacity is never stored: the detail computes it with
  ``selectors.period_capacity`` (chips in service minus maintenance), per
  resource in GPU-hours and in normalized hours (GPU-hours x throughput);
- a period is addressed by id or by slug, in URLs and in request bodies
  (``PeriodRefField``); an unknown one is a 404 in a URL and a 400 naming
  the field in a body;
- ``visible_or_404`` is how every view of this API fetches one object: from
  a queryset a visibility selector already scoped to the user, answering the
  same JSON 404 for "not yours" as for "does not exist".
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import selectors
from allocation.api.filters import PeriodFilter
from allocation.models import AllocationPeriod


@extend_schema_field(OpenApiTypes.STR)
class PeriodRefField(serializers.RelatedField):
    """A period named by its slug (``2027-q1``) or its id (``3``)."""

    default_error_messages = {
        "does_not_exist": gettext_lazy("No allocation period {value}."),
        "incorrect_type": gettext_lazy("Name the period by slug or id."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", AllocationPeriod.objects.all())
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> AllocationPeriod:
        if isinstance(data, bool) or not isinstance(data, int | str) or not str(data).strip():
            self.fail("incorrect_type")
        period = period_by_ref(str(data), queryset=self.get_queryset())
        if period is None:
            self.fail("does_not_exist", value=data)
        return period

    def to_representation(self, value: Any) -> str:
        return value.slug


def visible_or_404(queryset: QuerySet[Any], pk: Any) -> Any:
    """The object with id ``pk`` in a visibility-scoped queryset, or DRF's 404.

    Raises DRF's ``NotFound`` (not Django's ``Http404``) so the answer is the
    API's JSON error format: ``allocation.api.errors`` only formats DRF
    exceptions. A malformed id is the same 404 as an unknown one.
    """
    try:
        return queryset.get(pk=int(pk))
    except (TypeError, ValueError, OverflowError, queryset.model.DoesNotExist):
        raise NotFound(_("Not found.")) from None


def period_by_ref(ref: str, *, queryset: QuerySet[AllocationPeriod] | None = None) -> AllocationPeriod | None:
    """The period whose id (all digits) or slug is ``ref``, or None."""
    qs = AllocationPeriod.objects.all() if queryset is None else queryset
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():  # isdigit() alone also takes "¹3", which int() refuses
        found = qs.filter(pk=int(ref)).first()
        if found is not None:
            return found
    return qs.filter(slug=ref).first()


class PeriodViewSet(viewsets.GenericViewSet):
    filterset_class = PeriodFilter
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        slug = serializers.CharField()
        name = serializers.CharField()
        starts_at = serializers.DateTimeField()
        ends_at = serializers.DateTimeField()
        request_deadline = serializers.DateTimeField()
        status = serializers.CharField()
        hours = serializers.FloatField(help_text="Length of the period in hours.")

        class Meta:
            ref_name = "Period"

    class DetailOutputSerializer(OutputSerializer):
        class ResourceSerializer(serializers.Serializer):
            site = serializers.CharField(source="inventory.gigafactory.slug")
            site_name = serializers.CharField(source="inventory.gigafactory.name")
            chip_type = serializers.CharField(source="inventory.chip_type.slug")
            throughput = serializers.FloatField(source="inventory.chip_type.throughput")
            chips_in_service = serializers.IntegerField(source="inventory.chips_in_service")
            gpu_hours = serializers.FloatField()
            normalized_hours = serializers.FloatField()

            class Meta:
                ref_name = "PeriodResourceCapacity"

        capacity = ResourceSerializer(many=True)
        capacity_gpu_hours = serializers.FloatField()
        capacity_normalized_hours = serializers.FloatField()

        class Meta:
            ref_name = "PeriodDetail"

    def get_queryset(self) -> QuerySet[AllocationPeriod]:
        return AllocationPeriod.objects.all()

    @extend_schema(
        summary="List allocation periods",
        description="Every period, newest first. Filter with `?status=open`.",
        responses=OutputSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        summary="An allocation period with its capacity per resource",
        parameters=[OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Period id or slug.")],
        responses=DetailOutputSerializer,
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        period = period_by_ref(pk, queryset=self.get_queryset())
        if period is None:
            raise NotFound(_("No such allocation period."))
        capacity = selectors.period_capacity(period=period)
        inventory = list(selectors.resources_matching())
        gpu_hours = [capacity.get(inv.pk, 0.0) for inv in inventory]
        normalized = [hours * inv.chip_type.throughput for hours, inv in zip(gpu_hours, inventory, strict=True)]
        data = {
            **{
                name: getattr(period, name)
                for name in ("id", "slug", "name", "starts_at", "ends_at", "request_deadline", "status", "hours")
            },
            "capacity": [
                {"inventory": inv, "gpu_hours": g, "normalized_hours": n}
                for inv, g, n in zip(inventory, gpu_hours, normalized, strict=True)
            ],
            "capacity_gpu_hours": sum(gpu_hours),
            "capacity_normalized_hours": sum(normalized),
        }
        return Response(self.DetailOutputSerializer(data).data)
