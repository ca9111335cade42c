"""Maintenance windows over REST, for site operators: announce, list, change, end.

Invariants:
- every write goes through ``allocation.services.maintenance``, which sets
  the ledger's capacity again and flags the bookings a window displaces
  ``at_risk`` (their tenants told); the answer lists them in ``at_risk``;
- operators and platform admins only (``policies.is_operator``): anyone else
  gets a 403, on reads too (a window names the bookings it displaced);
- ``POST {id}/end/`` ends a running window now, or cancels one not yet
  started (then the answer's ``id`` is null); either way the chips come back.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import policies
from allocation.api.fields import MomentField
from allocation.api.filters import MomentFilter
from allocation.api.views.periods import visible_or_404
from allocation.api.views.resources import resource_by_key, resource_key
from allocation.models import Booking, MaintenanceWindow
from allocation.services import maintenance as services

EXAMPLE = {
    "resource": "muc/h100",
    "chips": 700,
    "starts_at": "2027-02-01T00:00:00Z",
    "ends_at": "2027-02-01T03:00:00Z",
    "reason": "Cooling loop repair",
}


class IsOperator(permissions.BasePermission):
    message = gettext_lazy("Only site operators manage maintenance.")

    def has_permission(self, request: Any, view: Any) -> bool:
        # OPTIONS describes the endpoint (as the public schema does) and changes nothing.
        return request.method == "OPTIONS" or policies.is_operator(request.user)


class ResourceField(serializers.CharField):
    """A resource named ``"site/chip_type"``; gives the inventory row."""

    def to_internal_value(self, data: Any) -> Any:
        key = super().to_internal_value(data)
        inventory = resource_by_key(key)
        if inventory is None:
            raise serializers.ValidationError(_('No resource "%(key)s"; name it "site/chip_type".') % {"key": key})
        return inventory


class MaintenanceFilter(django_filters.FilterSet):
    site = django_filters.CharFilter(field_name="inventory__gigafactory__slug", help_text="Site slug.")
    chip_type = django_filters.CharFilter(field_name="inventory__chip_type__slug", help_text="Chip type slug.")
    ends_after = MomentFilter(
        field_name="ends_at", lookup_expr="gt", help_text="Windows still running at or after this time."
    )

    class Meta:
        model = MaintenanceWindow
        fields = ["site", "chip_type", "ends_after"]


class MaintenanceWindowViewSet(viewsets.GenericViewSet):
    permission_classes = [permissions.IsAuthenticated, IsOperator]
    filterset_class = MaintenanceFilter

    class InputSerializer(serializers.Serializer):
        resource = ResourceField(help_text='"site/chip_type"')
        chips = serializers.IntegerField(help_text="Chips out of service in every hour of the window.")
        starts_at = MomentField()
        ends_at = MomentField()
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "MaintenanceInput"

    class ChangeSerializer(serializers.Serializer):
        chips = serializers.IntegerField(required=False)
        starts_at = MomentField(required=False)
        ends_at = MomentField(required=False)
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

        class Meta:
            ref_name = "MaintenanceChange"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(allow_null=True, help_text="Null once a window not yet started is cancelled.")
        resource = serializers.SerializerMethodField()
        chips = serializers.IntegerField()
        starts_at = serializers.DateTimeField()
        ends_at = serializers.DateTimeField()
        reason = serializers.CharField()
        at_risk = serializers.SerializerMethodField(
            help_text="Bookings this change put at risk (their tenants were told)."
        )

        class Meta:
            ref_name = "MaintenanceWindow"

        def get_resource(self, obj: MaintenanceWindow) -> str:
            return resource_key(obj.inventory)

        def get_at_risk(self, obj: MaintenanceWindow) -> list[int]:
            return [b.pk for b in self.context.get("at_risk", [])]

    serializer_class = OutputSerializer

    def get_queryset(self) -> QuerySet[MaintenanceWindow]:
        return MaintenanceWindow.objects.select_related("inventory__gigafactory", "inventory__chip_type")

    def _answer(self, window: MaintenanceWindow, displaced: list[Booking], code: int = status.HTTP_200_OK) -> Response:
        return Response(self.OutputSerializer(window, context={"at_risk": displaced}).data, status=code)

    @extend_schema(summary="List maintenance windows (site operators)", responses=OutputSerializer(many=True))
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()).order_by("starts_at", "pk"))
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(summary="A maintenance window", responses=OutputSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._answer(visible_or_404(self.get_queryset(), pk), [])

    @extend_schema(
        summary="Announce maintenance (site operators)",
        description="Takes `chips` of `resource` out of service from `starts_at` to `ends_at`. The ledger's "
        "capacity falls at once; confirmed bookings that no longer fit (the latest submitted "
        "first) are put at risk and listed in `at_risk`, their tenants told.",
        request=InputSerializer,
        responses={201: OutputSerializer},
        examples=[OpenApiExample("Announce", value=EXAMPLE, request_only=True)],
    )
    def create(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        window, displaced = services.maintenance_announce(
            actor=request.user,
            inventory=data["resource"],
            chips=data["chips"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            reason=data["reason"],
        )
        return self._answer(window, displaced, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change maintenance: chips, times or reason (site operators)",
        description="Capacity is set again over the old and the new hours, up or down; bookings that no longer "
        "fit are put at risk (`at_risk`).",
        request=ChangeSerializer,
        responses=OutputSerializer,
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        window = visible_or_404(self.get_queryset(), pk)
        serializer = self.ChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        window, displaced = services.maintenance_change(actor=request.user, window=window, **serializer.validated_data)
        return self._answer(window, displaced)

    @extend_schema(
        summary="End maintenance now (site operators)",
        description="A running window ends now and its chips come back; one not yet started is cancelled "
        "(the answer's `id` is null). At-risk bookings stay at risk until an operator re-confirms, "
        "moves or cancels them (`/bookings/{id}/reconfirm/`, `move/`, `cancel/`).",
        request=None,
        responses=OutputSerializer,
    )
    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str) -> Response:
        window = services.maintenance_end(actor=request.user, window=visible_or_404(self.get_queryset(), pk))
        return self._answer(window, [])
