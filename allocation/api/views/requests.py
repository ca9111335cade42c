"""Allocation requests over REST: draft, edit, submit, withdraw, decide.

Invariants:
- every object is fetched through ``selectors.requests_visible_to``: a request
  the user may not see is a 404, whatever the verb, so ids do not leak; one
  the user sees but may not act on is the service's 403 (``NotAllowed``);
- the view only translates: slugs in, slugs out. Every business rule (who may
  do what, open period, deadline, positive and deliverable demand, chips a site
  has, allowed transitions, reasons) lives in ``allocation.services.requests``;
  its ``ServiceError`` becomes a 400 naming the field;
- a ``tenant`` in a body must be one of the user's own tenants
  (``selectors.tenants_of``), else a 400 naming ``tenant``; an unknown slug
  for any other field is a 400 naming that field;
- PATCH merges the given fields into the draft's current content and hands
  the whole content to ``request_update`` (which refuses non-drafts);
- create honours ``Idempotency-Key`` (``allocation.api.idempotency``): a
  replay answers 200 with the first answer and creates no second draft;
- the detail shows the quotas in force (committed round) for the request,
  read through ``selectors.quotas_visible_to``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import selectors
from allocation.api.fields import TenantOfUserField
from allocation.api.filters import RequestFilter
from allocation.api.idempotency import idempotent
from allocation.api.views.periods import PeriodRefField, visible_or_404
from allocation.models import AllocationRequest, ChipType, Gigafactory, RequestStatus
from allocation.services import requests as services
from allocation.services.requests import RequestContent

CREATE_EXAMPLE = {
    "tenant": "aurora-lab",
    "period": "2027-q1",
    "title": "Pre-training a 7B multilingual model",
    "abstract": "A European open-weights model for all 24 official languages.",
    "chip_type": "h100",
    "demand_gpu_hours": 250000,
    "eligible_sites": ["muc", "lux"],
    "eligible_chip_types": ["h100"],
    "justification": "Scaling-law runs done on 1B; 7B is the next step.",
    "expected_outputs": "Open weights, a paper, evaluation suite.",
}


def _slugs(field: str, model: type[Any]) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(
        slug_field="slug",
        queryset=model.objects.all(),
        many=True,
        required=False,
        help_text=f"{field}: slugs; empty means any.",
    )


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class _SlugsOutput(serializers.Field):
    """A many-to-many relation shown as the related objects' slugs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Any) -> list[str]:
        return [obj.slug for obj in value.all()]


class _ContentInput(serializers.Serializer):
    """The content a tenant writes, shared by create and update."""

    title = serializers.CharField(max_length=200)
    abstract = serializers.CharField(required=False, allow_blank=True)
    chip_type = serializers.SlugRelatedField(
        slug_field="slug", queryset=ChipType.objects.all(), help_text="Chip type the demand is counted in (slug)."
    )
    demand_gpu_hours = serializers.FloatField(help_text="GPU-hours of `chip_type`; must be positive.")
    eligible_sites = _slugs("Acceptable sites", Gigafactory)
    eligible_chip_types = _slugs("Acceptable chip types", ChipType)
    justification = serializers.CharField(required=False, allow_blank=True)
    expected_outputs = serializers.CharField(required=False, allow_blank=True)


def _content(data: dict[str, Any], current: AllocationRequest | None = None) -> RequestContent:
    """Validated input (possibly partial) over the request's current content."""

    def pick(name: str, default: Any) -> Any:
        return data.get(name, default)

    if current is None:
        base: dict[str, Any] = {
            "title": "",
            "abstract": "",
            "chip_type": None,
            "demand_gpu_hours": 0.0,
            "eligible_sites": [],
            "eligible_chip_types": [],
            "justification": "",
            "expected_outputs": "",
        }
    else:
        base = {
            "title": current.title,
            "abstract": current.abstract,
            "chip_type": current.chip_type,
            "demand_gpu_hours": current.demand_gpu_hours,
            "eligible_sites": list(current.eligible_sites.all()),
            "eligible_chip_types": list(current.eligible_chip_types.all()),
            "justification": current.justification,
            "expected_outputs": current.expected_outputs,
        }
    merged = {name: pick(name, default) for name, default in base.items()}
    return RequestContent(
        title=merged["title"],
        chip_type=merged["chip_type"],
        demand_gpu_hours=merged["demand_gpu_hours"],
        abstract=merged["abstract"],
        eligible_sites=tuple(merged["eligible_sites"]),
        eligible_chip_types=tuple(merged["eligible_chip_types"]),
        justification=merged["justification"],
        expected_outputs=merged["expected_outputs"],
    )


class AllocationRequestViewSet(viewsets.GenericViewSet):
    filterset_class = RequestFilter

    class CreateInputSerializer(_ContentInput):
        tenant = TenantOfUserField(help_text="Slug of one of your tenants.")
        period = PeriodRefField(help_text="Period slug or id.")

        class Meta:
            ref_name = "AllocationRequestCreateInput"

    class UpdateInputSerializer(_ContentInput):
        class Meta:
            ref_name = "AllocationRequestUpdateInput"

    class DecideInputSerializer(serializers.Serializer):
        decision = serializers.ChoiceField(choices=["accept", "reject"])
        accepted_normalized_hours = serializers.FloatField(
            required=False,
            allow_null=True,
            help_text="Accept less than the demand (a reason is then required). Default: the whole demand.",
        )
        reason = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="Required to reject or to accept a reduced amount."
        )

        class Meta:
            ref_name = "AllocationRequestDecideInput"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        tenant = serializers.CharField(source="tenant.slug")
        tenant_name = serializers.CharField(source="tenant.name")
        period = serializers.CharField(source="period.slug")
        title = serializers.CharField()
        chip_type = serializers.CharField(source="chip_type.slug")
        demand_gpu_hours = serializers.FloatField()
        demand_normalized_hours = serializers.FloatField()
        eligible_sites = _SlugsOutput()
        eligible_chip_types = _SlugsOutput()
        status = serializers.CharField()
        accepted_normalized_hours = serializers.FloatField(allow_null=True)
        created_at = serializers.DateTimeField()
        submitted_at = serializers.DateTimeField(allow_null=True)
        decided_at = serializers.DateTimeField(allow_null=True)

        class Meta:
            ref_name = "AllocationRequest"

    class DetailOutputSerializer(OutputSerializer):
        class QuotaSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            round = serializers.IntegerField(source="round_id")
            site = serializers.CharField(source="inventory.gigafactory.slug")
            chip_type = serializers.CharField(source="inventory.chip_type.slug")
            gpu_hours = serializers.FloatField()
            normalized_hours = serializers.FloatField()

            class Meta:
                ref_name = "AllocationRequestQuota"

        abstract = serializers.CharField()
        justification = serializers.CharField()
        expected_outputs = serializers.CharField()
        created_by = serializers.CharField(source="created_by.username")
        decision = serializers.SerializerMethodField()
        decision_reason = serializers.CharField()
        decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
        quotas = serializers.SerializerMethodField()
        granted_normalized_hours = serializers.SerializerMethodField()

        class Meta:
            ref_name = "AllocationRequestDetail"

        def get_decision(self, obj: AllocationRequest) -> str | None:
            return obj.status if obj.status in (RequestStatus.ACCEPTED, RequestStatus.REJECTED) else None

        @extend_schema_field(QuotaSerializer(many=True))
        def get_quotas(self, obj: AllocationRequest) -> Any:
            return self.QuotaSerializer(self.context["quotas"], many=True).data

        def get_granted_normalized_hours(self, obj: AllocationRequest) -> float:
            return sum(q.normalized_hours for q in self.context["quotas"])

    def get_queryset(self) -> QuerySet[AllocationRequest]:
        if getattr(self, "swagger_fake_view", False):
            return AllocationRequest.objects.none()
        return selectors.requests_visible_to(user=self.request.user)

    def _visible(self, pk: str) -> AllocationRequest:
        return visible_or_404(self.get_queryset().select_related("created_by"), pk)

    def _detail(self, obj: AllocationRequest, *, code: int = status.HTTP_200_OK) -> Response:
        quotas = list(selectors.quotas_visible_to(user=self.request.user).filter(request=obj).order_by("pk"))
        return Response(self.DetailOutputSerializer(obj, context={"quotas": quotas}).data, status=code)

    @extend_schema(
        summary="List the allocation requests you may see",
        description="Your tenants' requests; for the committee also every submitted or decided one.",
        responses=OutputSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        qs = (
            self.filter_queryset(self.get_queryset())
            .prefetch_related(
                Prefetch("eligible_sites", queryset=Gigafactory.objects.only("id", "slug")),
                Prefetch("eligible_chip_types", queryset=ChipType.objects.only("id", "slug")),
            )
            .order_by("-created_at", "-pk")
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        summary="An allocation request with its decision and quotas in force", responses=DetailOutputSerializer
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._detail(self._visible(pk))

    @extend_schema(
        summary="Draft an allocation request",
        description="Any member of the tenant may draft; the PI submits. Demand is converted to normalized "
        "hours with the chip type's throughput and must fit what the acceptable resources deliver.",
        request=CreateInputSerializer,
        responses={201: DetailOutputSerializer, 200: DetailOutputSerializer},
        examples=[OpenApiExample("7B pre-training", value=CREATE_EXAMPLE, request_only=True)],
    )
    @idempotent("allocation-requests.create")
    def create(self, request: Request) -> Response:
        serializer = self.CreateInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        obj = services.request_create(
            actor=request.user, tenant=data["tenant"], period=data["period"], content=_content(data)
        )
        return self._detail(self._visible(str(obj.pk)), code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit a draft",
        description="Only drafts can change; give any subset of the content fields.",
        request=UpdateInputSerializer,
        responses=DetailOutputSerializer,
        examples=[
            OpenApiExample(
                "Ask for less", value={"demand_gpu_hours": 180000, "eligible_sites": ["muc"]}, request_only=True
            )
        ],
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        obj = self._visible(pk)
        serializer = self.UpdateInputSerializer(data=request.data, partial=True, context={"request": request})
        serializer.is_valid(raise_exception=True)
        services.request_update(actor=request.user, request=obj, content=_content(serializer.validated_data, obj))
        return self._detail(self._visible(pk))

    @extend_schema(
        summary="Submit a draft to the committee (the tenant's PI)", request=None, responses=DetailOutputSerializer
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        services.request_submit(actor=request.user, request=self._visible(pk))
        return self._detail(self._visible(pk))

    @extend_schema(
        summary="Withdraw a draft or submitted request (tenant members)", request=None, responses=DetailOutputSerializer
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        services.request_withdraw(actor=request.user, request=self._visible(pk))
        return self._detail(self._visible(pk))

    @extend_schema(
        summary="Accept (possibly reduced) or reject a submitted request (committee)",
        request=DecideInputSerializer,
        responses=DetailOutputSerializer,
        examples=[
            OpenApiExample(
                "Accept reduced",
                request_only=True,
                value={
                    "decision": "accept",
                    "accepted_normalized_hours": 150000,
                    "reason": "Scale the 7B run to the 1B results first.",
                },
            ),
            OpenApiExample(
                "Reject", request_only=True, value={"decision": "reject", "reason": "Out of scope of the public pool."}
            ),
        ],
    )
    @action(detail=True, methods=["post"])
    def decide(self, request: Request, pk: str) -> Response:
        obj = self._visible(pk)
        serializer = self.DecideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.request_decide(
            actor=request.user,
            request=obj,
            accept=data["decision"] == "accept",
            reason=data["reason"],
            accepted_normalized_hours=data.get("accepted_normalized_hours"),
        )
        return self._detail(self._visible(pk))
