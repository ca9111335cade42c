"""Bookings over REST: book chips (fixed or flexible), list, cancel; fair-share factors.

Invariants:
- every booking is fetched from ``_visible_bookings``: the user's tenants'
  bookings (all of them for site operators and platform admins, who cancel
  and report usage for any); any other id is a 404, whatever the verb;
- the view only translates names (``"site/chip_type"``, slugs) to rows and
  hands them to ``allocation.services.bookings``; every rule (membership,
  shape, whole hours, capacity, quota, idempotency) lives there;
- ``Idempotency-Key`` (header) is passed to the service: a first request
  answers 201, a replay of the same body 200 with the same booking, the same
  key with another body 422 (``idempotency_mismatch``);
- a refusal is a 409 whose ``error.code`` is ``capacity`` or ``quota``; a
  capacity refusal also carries ``error.earliest_start``, the first start
  (UTC) within 90 days where the same booking fits, or null;
- ``GET /fair-share/`` shows the user's tenants' fair-share factor F (as a
  float, never 0; as 6 significant digits at any size; and as the exponent
  x of F = 2^-x, which orders exactly where F underflows) and decayed usage,
  the order the booking round serves flexible bookings in.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from allocation import policies, selectors
from allocation.api.errors import exception_handler
from allocation.api.fields import MomentField, TenantOfUserField
from allocation.api.filters import MomentFilter
from allocation.api.idempotency import IDEMPOTENCY_HEADER, idempotency_key
from allocation.api.views.periods import visible_or_404
from allocation.api.views.resources import resource_by_key, resource_key
from allocation.models import Booking, BookingKind, BookingStatus, Inventory
from allocation.services import bookings as services
from allocation.services import maintenance
from allocation.services.errors import Conflict

FIXED_EXAMPLE = {
    "tenant": "aurora-lab",
    "resource": "lux/h100",
    "starts_at": "2027-01-08T09:00:00Z",
    "hours": 10,
    "chips": 60,
}
FLEXIBLE_EXAMPLE = {
    "kind": "flexible",
    "tenant": "aurora-lab",
    "eligible": ["lux/h100", {"site": "muc", "chip_type": "h100"}, {"chip_type": "b200"}],
    "earliest_start": "2027-01-08T00:00:00Z",
    "latest_end": "2027-01-15T00:00:00Z",
    "hours": 24,
    "chips": 64,
}


class BookingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=BookingStatus.choices)
    kind = django_filters.ChoiceFilter(choices=BookingKind.choices)
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="Tenant slug.")
    site = django_filters.CharFilter(
        method="filter_site", help_text="Site slug: placed there, or (pending) accepting it."
    )
    chip_type = django_filters.CharFilter(
        method="filter_chip_type", help_text="Chip type slug: placed on it, or (pending) accepting it."
    )
    starts_after = MomentFilter(
        field_name="starts_at", lookup_expr="gte", help_text="Placed bookings starting at or after this time."
    )
    starts_before = MomentFilter(
        field_name="starts_at", lookup_expr="lt", help_text="Placed bookings starting before this time."
    )

    class Meta:
        model = Booking
        fields = ["status", "kind", "tenant", "site", "chip_type", "starts_after", "starts_before"]

    def _placed_or_eligible(self, qs: QuerySet[Booking], field: str, value: str) -> QuerySet[Booking]:
        return qs.filter(
            Q(**{f"inventory__{field}__slug": value}) | Q(inventory__isnull=True, **{f"eligible__{field}__slug": value})
        ).distinct()

    def filter_site(self, qs: QuerySet[Booking], name: str, value: str) -> QuerySet[Booking]:
        return self._placed_or_eligible(qs, "gigafactory", value) if value else qs

    def filter_chip_type(self, qs: QuerySet[Booking], name: str, value: str) -> QuerySet[Booking]:
        return self._placed_or_eligible(qs, "chip_type", value) if value else qs


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "example": "lux/h100", "description": '"site/chip_type"'},
            {
                "type": "object",
                "properties": {"site": {"type": "string"}, "chip_type": {"type": "string"}},
                "description": "Without site: that chip type at every site; without chip_type: every chip type there.",
            },
        ],
    }
)
class _EligibleField(serializers.Field):
    """One acceptable resource: ``"site/chip"`` or ``{"site"?, "chip_type"?}``; gives the resources it means."""

    def to_internal_value(self, data: Any) -> list[Inventory]:
        if isinstance(data, str):
            inventory = resource_by_key(data)
            if inventory is None:
                raise serializers.ValidationError(_('No resource "%(key)s"; name it "site/chip_type".') % {"key": data})
            return [inventory]
        if not isinstance(data, dict) or not (set(data) <= {"site", "chip_type"}) or not data:
            raise serializers.ValidationError(_('Give "site/chip_type" or an object with "site" and/or "chip_type".'))
        qs = selectors.resources_matching()
        if data.get("site"):
            qs = qs.filter(gigafactory__slug=data["site"])
        if data.get("chip_type"):
            qs = qs.filter(chip_type__slug=data["chip_type"])
        found = list(qs)
        if not found:
            raise serializers.ValidationError(_("No resource matches %(resource)s.") % {"resource": data})
        return found

    def to_representation(self, value: Any) -> Any:
        return value


class _FixedInput(serializers.Serializer):
    """The usual fixed booking, named in full (tenant and ``resource``): the fast lane's input.

    Only ever a shortcut: a body it does not take, or one naming rows it does not find, goes
    through ``BookingViewSet.InputSerializer``, which gives every error its one wording.
    """

    FIELDS = frozenset({"kind", "tenant", "resource", "starts_at", "hours", "chips"})

    tenant = serializers.CharField(trim_whitespace=False)  # a slug as the full serializer's field takes it
    resource = serializers.CharField()
    starts_at = MomentField()
    hours = serializers.IntegerField()
    chips = serializers.IntegerField()

    @classmethod
    def takes(cls, data: Any) -> bool:
        return (
            isinstance(data, dict)
            and data.keys() <= cls.FIELDS
            and data.get("kind", BookingKind.FIXED) == BookingKind.FIXED
            and isinstance(data.get("resource"), str)
            and data["resource"].count("/") == 1
        )


class BookingViewSet(viewsets.GenericViewSet):
    filterset_class = BookingFilter

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=BookingKind.choices, default=BookingKind.FIXED)
        tenant = TenantOfUserField(
            required=False, help_text="Slug of one of your tenants; may be left out if you belong to exactly one."
        )
        resource = serializers.CharField(
            required=False, help_text='Fixed: "site/chip_type" (or give site and chip_type).'
        )
        site = serializers.SlugField(required=False, help_text="Fixed: site slug, with chip_type.")
        chip_type = serializers.SlugField(required=False, help_text="Fixed: chip type slug, with site.")
        starts_at = MomentField(required=False, help_text="Fixed: first hour, on the hour (UTC).")
        eligible = serializers.ListField(
            child=_EligibleField(), required=False, allow_empty=False, help_text="Flexible: acceptable resources."
        )
        earliest_start = MomentField(required=False, help_text="Flexible: window start (UTC).")
        latest_end = MomentField(required=False, help_text="Flexible: window end (UTC).")
        hours = serializers.IntegerField(help_text="Whole consecutive hours.")
        chips = serializers.IntegerField(help_text="Chips held in every one of those hours.")

        class Meta:
            ref_name = "BookingInput"

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if "tenant" not in attrs:
                tenants = list(selectors.tenants_of(user=self.context["request"].user)[:2])
                if len(tenants) != 1:
                    raise serializers.ValidationError({"tenant": _("Name the tenant to book for (its slug).")})
                attrs["tenant"] = tenants[0]
            if attrs["kind"] == BookingKind.FIXED:
                return self._fixed(attrs)
            return self._flexible(attrs)

        def _fixed(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if "resource" in attrs:
                key = attrs["resource"]
            elif "site" in attrs and "chip_type" in attrs:
                key = f"{attrs['site']}/{attrs['chip_type']}"
            else:
                raise serializers.ValidationError({"resource": _('Name the resource: "site/chip_type".')})
            inventory = resource_by_key(key)
            if inventory is None:
                raise serializers.ValidationError({"resource": _('No resource "%(key)s".') % {"key": key}})
            if "starts_at" not in attrs:
                raise serializers.ValidationError({"starts_at": _("A fixed booking needs its start hour.")})
            return {**attrs, "inventory": inventory}

        def _flexible(self, attrs: dict[str, Any]) -> dict[str, Any]:
            for name in ("eligible", "earliest_start", "latest_end"):
                if name not in attrs:
                    raise serializers.ValidationError({name: _("A flexible booking needs this field.")})
            resources: dict[int, Inventory] = {}
            for found in attrs["eligible"]:
                resources.update((inv.pk, inv) for inv in found)
            return {**attrs, "eligible": list(resources.values())}

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        tenant = serializers.CharField(source="tenant.slug")
        kind = serializers.CharField()
        status = serializers.CharField()
        chips = serializers.IntegerField()
        hours = serializers.IntegerField()
        resource = serializers.SerializerMethodField(help_text='"site/chip_type" once placed, else null.')
        starts_at = serializers.DateTimeField(allow_null=True)
        ends_at = serializers.DateTimeField(allow_null=True)
        earliest_start = serializers.DateTimeField(allow_null=True)
        latest_end = serializers.DateTimeField(allow_null=True)
        eligible = serializers.SerializerMethodField(help_text='Flexible: the acceptable "site/chip_type"s.')
        period = serializers.CharField(source="period.slug", allow_null=True, default=None)
        cost_normalized_hours = serializers.FloatField(help_text="Quota drawn (chips x hours x throughput).")
        unplaced_reason = serializers.CharField(
            help_text="Pending: why the last round could not place it (window, quota or capacity)."
        )
        idempotency_key = serializers.CharField(allow_null=True)
        created_by = serializers.CharField(source="created_by.username")
        submitted_at = serializers.DateTimeField()

        class Meta:
            ref_name = "Booking"

        def get_resource(self, obj: Booking) -> str | None:
            return resource_key(obj.inventory) if obj.inventory is not None else None

        def get_eligible(self, obj: Booking) -> list[str]:
            if obj.kind != BookingKind.FLEXIBLE:
                return []
            return sorted(resource_key(inv) for inv in obj.eligible.all())

    class ErrorSerializer(serializers.Serializer):
        class BodySerializer(serializers.Serializer):
            code = serializers.CharField(help_text="capacity, quota, idempotency_mismatch, invalid, not_found, ...")
            message = serializers.CharField()
            # SerializerMetaclass pops declared fields out of the class body, so this never shadows
            # Serializer.fields at runtime; the stubs cannot express that, and the wire name must stay "fields".
            fields = serializers.DictField(  # type: ignore[assignment]
                child=serializers.ListField(child=serializers.CharField()), required=False
            )
            earliest_start = serializers.DateTimeField(
                required=False,
                allow_null=True,
                help_text="Capacity refusals only: the first start within 90 days where the booking fits.",
            )

            class Meta:
                ref_name = "BookingErrorBody"

        error = BodySerializer()

        class Meta:
            ref_name = "BookingError"

    def get_queryset(self) -> QuerySet[Booking]:
        if getattr(self, "swagger_fake_view", False):
            return Booking.objects.none()
        return selectors.bookings_visible_to(user=self.request.user)

    def _visible(self, pk: Any) -> Booking:
        return visible_or_404(self.get_queryset().prefetch_related(self._eligible_prefetch()), pk)

    @staticmethod
    def _eligible_prefetch() -> Prefetch:
        return Prefetch("eligible", queryset=Inventory.objects.select_related("gigafactory", "chip_type"))

    @extend_schema(
        summary="List bookings you may see",
        description="Your tenants' bookings, newest first (site operators: every booking). Filter by status, "
        "kind, tenant, site, chip_type, starts_after, starts_before.",
        responses=OutputSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        qs = (
            self.filter_queryset(self.get_queryset())
            .prefetch_related(self._eligible_prefetch())
            .order_by("-submitted_at", "-pk")
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(summary="A booking", responses={200: OutputSerializer, 404: ErrorSerializer})
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.OutputSerializer(self._visible(pk)).data)

    @extend_schema(
        summary="Book chips: fixed (confirmed at once) or flexible (placed by the booking round)",
        description=(
            "**Fixed** (`kind` fixed, the default): `resource` (or `site` + `chip_type`), `starts_at` on the hour, "
            "`hours`, `chips`. It is confirmed at once or refused with a 409: `error.code` `capacity` (with "
            "`error.earliest_start`, the first start that fits) or `quota`.\n\n"
            "**Flexible** (`kind` flexible): `eligible` resources, a window `earliest_start`..`latest_end`, "
            "`hours`, `chips`. It is queued as pending; the booking round places it in fair-share order.\n\n"
            "Send an `Idempotency-Key` header to retry safely: the first request answers 201, a replay of the "
            "same body 200 with the same booking, the same key with another body 422."
        ),
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Any unique string up to 120 characters, per tenant.",
            )
        ],
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            200: OutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            409: ErrorSerializer,
            422: ErrorSerializer,
        },
        examples=[
            OpenApiExample("Fixed", value=FIXED_EXAMPLE, request_only=True),
            OpenApiExample("Flexible", value=FLEXIBLE_EXAMPLE, request_only=True),
            OpenApiExample(
                "Refused for capacity",
                status_codes=["409"],
                response_only=True,
                value={
                    "error": {
                        "code": "capacity",
                        "message": "lux/h100 has fewer than 60 free chips in some hour of that slot. "
                        "The earliest start that fits is 2027-01-08 19:00 UTC.",
                        "fields": {"capacity": ["lux/h100 has fewer than 60 free chips in some hour of that slot."]},
                        "earliest_start": "2027-01-08T19:00:00+00:00",
                    }
                },
            ),
            OpenApiExample(
                "Refused for quota",
                status_codes=["409"],
                response_only=True,
                value={
                    "error": {
                        "code": "quota",
                        "message": "This needs 600.0 normalized hours but only 50.0 remain of the quota for 2027 Q1.",
                        "fields": {
                            "quota": [
                                "This needs 600.0 normalized hours but only 50.0 remain of the quota for 2027 Q1."
                            ]
                        },
                    }
                },
            ),
        ],
    )
    def create(self, request: Request) -> Response:
        key = idempotency_key(request)  # the same rules as every other create's key
        data = self._fixed_fast(request)
        if data is None:
            serializer = self.InputSerializer(data=request.data, context={"request": request})
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        common = {
            "actor": request.user,
            "tenant": data["tenant"],
            "hours": data["hours"],
            "chips": data["chips"],
            "idempotency_key": key,
        }
        try:
            if data["kind"] == BookingKind.FIXED:
                booking, created = services.booking_fixed_create(
                    inventory=data["inventory"],
                    starts_at=data["starts_at"],
                    **common,
                    **({"period": data["period"]} if "period" in data else {}),
                )
            else:
                booking, created = services.booking_flexible_create(
                    eligible=data["eligible"],
                    earliest_start=data["earliest_start"],
                    latest_end=data["latest_end"],
                    **common,
                )
        except Conflict as refused:
            return self._error(refused)
        # A new booking already holds every row its answer shows (tenant, resource, period, author);
        # a replay is read back with them joined.
        shown = booking if created else self._visible(booking.pk)
        response = Response(
            self.OutputSerializer(shown).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
        if key is not None and not created:
            response["Idempotent-Replayed"] = "true"
        return response

    @staticmethod
    def _fixed_fast(request: Request) -> dict[str, Any] | None:
        """A fixed booking's rows (tenant, resource, period) in one query, or None for the full serializer.

        Fixed bookings are the API's hot path; the full serializer would spend three queries and
        most of the request's time on them.
        """
        if not _FixedInput.takes(request.data):
            return None
        serializer = _FixedInput(data=request.data)
        if not serializer.is_valid():
            return None
        data = serializer.validated_data
        site, chip_type = (part.strip() for part in data["resource"].split("/"))
        rows = selectors.fixed_booking_rows(
            user=request.user, tenant_slug=data["tenant"], site=site, chip_type=chip_type, at=data["starts_at"]
        )
        if rows.tenant is None or rows.inventory is None:
            return None
        return {
            **data,
            "kind": BookingKind.FIXED,
            "tenant": rows.tenant,
            "inventory": rows.inventory,
            "period": rows.period,
        }

    def _error(self, exc: Exception) -> Response:
        """The API's one error format, plus a refusal's machine-readable details (``earliest_start``)."""
        response = exception_handler(exc, self.get_exception_handler_context())
        assert response is not None
        response.data["error"].update(getattr(exc, "extra", {}))
        return response

    @extend_schema(
        summary="Cancel a booking",
        description="Pending, confirmed or active bookings (tenant members or a site operator). Chips and quota "
        "go back; an active booking ends now and keeps the cost of the hours it started.",
        request=None,
        responses={200: OutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        booking = self._visible(pk)
        if booking.status == BookingStatus.AT_RISK and not policies.is_member(request.user, booking.tenant_id):
            booking = maintenance.booking_at_risk_cancel(actor=request.user, booking=booking)  # its tenant is told
        else:
            booking = services.booking_cancel(actor=request.user, booking=booking)
        return Response(self.OutputSerializer(self._visible(booking.pk)).data)

    class MoveSerializer(serializers.Serializer):
        resource = serializers.CharField(
            required=False, help_text='"site/chip_type" of the same chip type; default: where it is.'
        )
        starts_at = MomentField(required=False, help_text="New first hour (UTC); default: as it is.")

        class Meta:
            ref_name = "BookingMove"

        def validate_resource(self, value: str) -> Inventory:
            inventory = resource_by_key(value)
            if inventory is None:
                raise serializers.ValidationError(_('No resource "%(key)s".') % {"key": value})
            return inventory

    @extend_schema(
        summary="Re-confirm an at-risk booking where it is (site operators)",
        description="Once maintenance gives its chips back (ended, changed or cancelled). A 409 (`capacity`) "
        "while any of its hours is still short. Its tenant is told.",
        request=None,
        responses={200: OutputSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    @action(detail=True, methods=["post"])
    def reconfirm(self, request: Request, pk: str) -> Response:
        booking = maintenance.booking_at_risk_resolve(actor=request.user, booking=self._visible(pk))
        return Response(self.OutputSerializer(self._visible(booking.pk)).data)

    @extend_schema(
        summary="Move an at-risk booking to another start or resource and confirm it (site operators)",
        description="Same chip type, through the ledger as a new booking: the new hours must be free and the "
        "quota in force pays, or a 409 (`capacity`, `quota`) changes nothing. Its tenant is told.",
        request=MoveSerializer,
        responses={
            200: OutputSerializer,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str) -> Response:
        serializer = self.MoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        booking = maintenance.booking_at_risk_move(
            actor=request.user,
            booking=self._visible(pk),
            inventory=serializer.validated_data.get("resource"),
            starts_at=serializer.validated_data.get("starts_at"),
        )
        return Response(self.OutputSerializer(self._visible(booking.pk)).data)


class FairShareView(APIView):
    class OutputSerializer(serializers.Serializer):
        class TenantSerializer(serializers.Serializer):
            tenant = serializers.CharField(source="tenant.slug")
            tenant_name = serializers.CharField(source="tenant.name")
            pool = serializers.CharField(source="tenant.pool.slug")
            factor = serializers.FloatField(
                help_text="F = 2^-exponent, in (0, 1]; higher is served first by the booking round. Below the "
                "smallest positive double (about 5e-324) it is given as that double: order by "
                "`exponent` instead."
            )
            factor_text = serializers.CharField(
                help_text="F in decimal with 6 significant digits, also below the smallest double "
                "(e.g. `1.84500e-339`)."
            )
            exponent = serializers.FloatField(
                help_text="x in F = 2^-x: effective usage over the tenant's share (0 without usage, 1 at exactly "
                "its share). The booking round serves the lowest first; exact for any usage."
            )
            decayed_usage_normalized_hours = serializers.FloatField(
                help_text="Normalized hours used, each record halved every half-life."
            )

            class Meta:
                ref_name = "FairShareTenant"

        at = serializers.DateTimeField()
        half_life_hours = serializers.FloatField()
        tenants = TenantSerializer(many=True)

        class Meta:
            ref_name = "FairShare"

    @extend_schema(
        summary="Your tenants' fair-share factors",
        description="The booking round places pending flexible bookings by F (highest first, i.e. the lowest "
        "`exponent` first), then by submission time. F falls as a tenant's decayed usage grows "
        "against its share.",
        responses=OutputSerializer,
    )
    def get(self, request: Request) -> Response:
        now = timezone.now()
        data = {
            "at": now,
            "half_life_hours": settings.FAIR_SHARE_HALF_LIFE_HOURS,
            "tenants": selectors.fair_share_of(user=request.user, now=now),
        }
        return Response(self.OutputSerializer(data).data)
