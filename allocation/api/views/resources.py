"""Resources (a chip type at a site) and their free chips per hour.

Invariants:
- resources and free chips are not tenant data: every authenticated user
  sees all of them (a tenant needs them to choose a slot);
- a resource is named ``"<site>/<chip_type>"`` (slugs) in query strings and
  bodies, as the fair-share scenario format does; ``resource_by_key`` is the
  one parser, shared with the bookings endpoint;
- free chips come from ``allocation.selectors.free_chips`` (chips in
  service minus maintenance, confirmed and at-risk bookings), never
  recomputed here; one call covers at most ``MAX_AVAILABILITY_HOURS`` hours;
- a malformed or missing parameter is a 400 naming that parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import selectors
from allocation.api.fields import MomentField, with_range
from allocation.models import GigafactoryKind, Inventory
from allocation.services import ledger

MAX_AVAILABILITY_HOURS = 24 * 31


def resource_key(inventory: Inventory) -> str:
    return f"{inventory.gigafactory.slug}/{inventory.chip_type.slug}"


def resource_by_key(key: Any) -> Inventory | None:
    """The resource ``"site/chip_type"`` names, with its site and chip type joined, or None."""
    if not isinstance(key, str) or key.count("/") != 1:
        return None
    site, chip_type = (part.strip() for part in key.split("/"))
    # At most one row (one inventory per site and chip type): a plain get, no ordering to compile.
    try:
        return Inventory.objects.select_related("gigafactory", "chip_type").get(
            gigafactory__slug=site, chip_type__slug=chip_type
        )
    except Inventory.DoesNotExist:
        return None


class ResourceFilter(django_filters.FilterSet):
    site = django_filters.CharFilter(field_name="gigafactory__slug", help_text="Site slug, e.g. muc.")
    chip_type = django_filters.CharFilter(field_name="chip_type__slug", help_text="Chip type slug, e.g. h100.")
    kind = django_filters.ChoiceFilter(
        field_name="gigafactory__kind",
        choices=GigafactoryKind.choices,
        help_text="Site kind: an AI gigafactory or a (smaller) AI factory.",
    )

    class Meta:
        model = Inventory
        fields = ["site", "chip_type", "kind"]


class ResourceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    resource = serializers.SerializerMethodField(help_text='"site/chip_type", as bookings name it.')
    site = serializers.CharField(source="gigafactory.slug")
    site_name = serializers.CharField(source="gigafactory.name")
    site_kind = serializers.CharField(source="gigafactory.kind")
    country = serializers.CharField(source="gigafactory.country")
    chip_type = serializers.CharField(source="chip_type.slug")
    chip_name = serializers.CharField(source="chip_type.__str__")
    throughput = serializers.FloatField(
        source="chip_type.throughput", help_text="Training throughput relative to one H100 (1.0)."
    )
    chips_installed = serializers.IntegerField()
    chips_in_service = serializers.IntegerField()

    class Meta:
        ref_name = "Resource"

    def get_resource(self, obj: Inventory) -> str:
        return resource_key(obj)


class ResourceViewSet(viewsets.GenericViewSet):
    filterset_class = ResourceFilter

    def get_queryset(self) -> QuerySet[Inventory]:
        return selectors.resources_matching()

    @extend_schema(
        summary="List resources: each chip type at each site",
        description="Chips installed and in service, and the chip type's throughput (normalized hours per "
        "GPU-hour). Filter by `site`, `chip_type` (slugs) or site `kind`.",
        responses=ResourceOutput(many=True),
    )
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ResourceOutput(page, many=True).data)


class AvailabilityView(APIView):
    class InputSerializer(serializers.Serializer):
        resource = serializers.CharField(help_text='"site/chip_type", e.g. "lux/h100".')
        start = MomentField(
            required=False, help_text="First hour (UTC, ISO 8601); rounded down to the hour. Default: the current hour."
        )
        hours = serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=MAX_AVAILABILITY_HOURS,
            help_text=f"How many hours (1 to {MAX_AVAILABILITY_HOURS}); or give `end`.",
        )
        end = MomentField(required=False, help_text="End of the span (exclusive), instead of `hours`.")

        class Meta:
            ref_name = "AvailabilityQuery"

        def validate_resource(self, value: str) -> Inventory:
            inventory = resource_by_key(value)
            if inventory is None:
                raise serializers.ValidationError(
                    _('No resource "%(key)s"; name it "site/chip_type", e.g. "lux/h100".') % {"key": value}
                )
            return inventory

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            start = ledger.floor_hour(attrs.get("start") or timezone.now())
            if "hours" in attrs and "end" in attrs:
                raise serializers.ValidationError({"end": _("Give either hours or end, not both.")})
            if "end" in attrs:
                span = attrs["end"] - start
                if span.total_seconds() <= 0:
                    raise serializers.ValidationError({"end": _("The end must be after the start.")})
                hours = -(-span // ledger.HOUR)  # whole hours, rounded up
                if hours > MAX_AVAILABILITY_HOURS:
                    raise serializers.ValidationError(
                        {"end": _("Ask for at most %(hours)s hours per call.") % {"hours": MAX_AVAILABILITY_HOURS}}
                    )
            else:
                hours = attrs.get("hours", 24)
            return {"inventory": attrs["resource"], "start": start, "hours": int(hours)}

    class OutputSerializer(serializers.Serializer):
        class SlotSerializer(serializers.Serializer):
            hour = serializers.DateTimeField()
            free_chips = serializers.IntegerField()

            class Meta:
                ref_name = "AvailabilitySlot"

        resource = serializers.CharField()
        chips_in_service = serializers.IntegerField()
        throughput = serializers.FloatField()
        start = serializers.DateTimeField()
        hours = serializers.IntegerField()
        slots = SlotSerializer(many=True, help_text="One entry per hour, in order.")

        class Meta:
            ref_name = "Availability"

    @extend_schema(
        summary="Free chips of a resource, hour by hour",
        description="From the booking ledger: chips in service minus maintenance, confirmed and at-risk "
        f"bookings. Give `resource` and `start`, and `hours` (default 24) or `end`; at most "
        f"{MAX_AVAILABILITY_HOURS} hours per call. A bad parameter is a 400 naming it.",
        parameters=[
            OpenApiParameter("resource", str, required=True, description='"site/chip_type", e.g. "lux/h100".'),
            OpenApiParameter("start", datetime, description=with_range("First hour (UTC), rounded down to the hour.")),
            OpenApiParameter("hours", int, description=f"1 to {MAX_AVAILABILITY_HOURS}; default 24."),
            OpenApiParameter("end", datetime, description=with_range("End of the span (exclusive), instead of hours.")),
        ],
        responses=OutputSerializer,
        examples=[
            OpenApiExample(
                "Two hours at lux",
                response_only=True,
                value={
                    "resource": "lux/h100",
                    "chips_in_service": 90,
                    "throughput": 1.0,
                    "start": "2027-01-08T09:00:00Z",
                    "hours": 2,
                    "slots": [
                        {"hour": "2027-01-08T09:00:00Z", "free_chips": 90},
                        {"hour": "2027-01-08T10:00:00Z", "free_chips": 30},
                    ],
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        inventory, start, hours = (query.validated_data[k] for k in ("inventory", "start", "hours"))
        free = selectors.free_chips(inventory=inventory, start=start, hours=hours)
        data = {
            "resource": resource_key(inventory),
            "chips_in_service": inventory.chips_in_service,
            "throughput": inventory.chip_type.throughput,
            "start": start,
            "hours": hours,
            "slots": [
                {"hour": hour, "free_chips": chips}
                for hour, chips in zip(ledger.hour_range(start, hours), free, strict=True)
            ],
        }
        return Response(self.OutputSerializer(data).data)
