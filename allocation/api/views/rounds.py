"""Allocation rounds over REST: preview, commit, discard (the committee's tools).

Invariants:
- rounds are the committee's: a round's result names every tenant's demand
  and grant. Others get 403 on the list and on create (the service's
  ``NotAllowed``) and 404 on any single round, so round ids do not leak;
- create starts a preview with ``round_preview_start``; the engine runs in
  the ``round_compute`` Celery task after the transaction commits, so the
  answer is 202 with ``ready: false`` until the round has a result; with an
  ``Idempotency-Key`` a replay answers 200 with that first answer and starts
  no second preview;
- commit validates synchronously that the round is a computed preview (400
  naming ``status`` / 409 naming ``round`` otherwise), then enqueues
  ``allocation.tasks.round_commit`` on transaction commit (``round_commit_request``) and answers 202; a
  round that is already committed is answered 200 as it is (idempotent). The
  task re-checks everything under locks; a refusal there (e.g. a stale
  preview) is recorded in the round's ``failure``;
- a round's detail lists the grants it finds overdrawn (``overdrawn``), so the
  committee sees them before it commits;
- the list never loads a round's whole result: summary figures are read from
  the JSON in the database; the detail includes the first ``TENANT_ROWS``
  tenant rows (sorted by name, as the engine summary stores them) with
  ``tenants_count`` and ``tenants_truncated`` -- the whole table stays in the
  round for audit.
"""

from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from allocation import policies, selectors
from allocation.api.filters import RoundFilter
from allocation.api.idempotency import idempotent
from allocation.api.views.periods import PeriodRefField, visible_or_404
from allocation.models import AllocationRound
from allocation.services import rounds as services

TENANT_ROWS = 500
SUMMARY_KEYS = (
    "capacity_normalized_hours",
    "demand_normalized_hours",
    "granted_normalized_hours",
    "public_share",
    "public_target",
    "public_target_met",
    "jain_index",
    "pools",
    "kinds",
)


def _with_summary(qs: QuerySet[AllocationRound]) -> QuerySet[AllocationRound]:
    """Summary figures straight from the result JSON, without loading the result."""
    return qs.defer("result").annotate(
        ready=ExpressionWrapper(Q(result__isnull=False), output_field=BooleanField()),
        **{f"s_{key}": F(f"result__{key}") for key in SUMMARY_KEYS},
    )


def _summarised(rnd: AllocationRound) -> dict[str, Any]:
    """A fully loaded round as the detail shows it: the same keys ``_with_summary`` annotates, and the tenants."""
    result = rnd.result or {}
    tenants = result.get("tenants", [])
    return {
        **{
            name: getattr(rnd, name)
            for name in ("id", "period", "status", "failure", "created_by", "created_at", "computed_at", "committed_at")
        },
        **{f"s_{key}": result.get(key) for key in SUMMARY_KEYS},
        "ready": rnd.result is not None,
        "tenant_rows": tenants[:TENANT_ROWS],
        "tenants_count": len(tenants),
        "tenants_truncated": len(tenants) > TENANT_ROWS,
        "grants_count": len(result.get("grants", [])),
        "overdrawn": result.get("overdrawn", []),
    }


class AllocationRoundViewSet(viewsets.GenericViewSet):
    filterset_class = RoundFilter

    class PreviewInputSerializer(serializers.Serializer):
        period = PeriodRefField(help_text="Period slug or id.")

        class Meta:
            ref_name = "AllocationRoundPreviewInput"

    class OutputSerializer(serializers.Serializer):
        class PoolSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            name = serializers.CharField()
            public = serializers.BooleanField(required=False, help_text="This is the public pool.")
            weight = serializers.FloatField(help_text="The pool's weight in the engine, as a share of 1.")
            demand = serializers.FloatField(required=False, help_text="Accepted normalized hours of its tenants.")
            granted = serializers.FloatField()

            class Meta:
                ref_name = "AllocationRoundPool"

        class KindSerializer(serializers.Serializer):
            """A tenant kind's demand and grant, whatever the pool: a breakdown, not the public share."""

            kind = serializers.CharField()
            label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
            demand = serializers.FloatField()
            granted = serializers.FloatField()

            class Meta:
                ref_name = "AllocationRoundKind"

        id = serializers.IntegerField()
        period = serializers.CharField(source="period.slug")
        status = serializers.CharField()
        ready = serializers.BooleanField(help_text="The engine has computed this round's result.")
        failure = serializers.CharField(help_text="Why computing or committing failed; empty if it did not.")
        created_by = serializers.CharField(source="created_by.username")
        created_at = serializers.DateTimeField()
        computed_at = serializers.DateTimeField(allow_null=True)
        committed_at = serializers.DateTimeField(allow_null=True)
        capacity_normalized_hours = serializers.FloatField(source="s_capacity_normalized_hours", allow_null=True)
        demand_normalized_hours = serializers.FloatField(source="s_demand_normalized_hours", allow_null=True)
        granted_normalized_hours = serializers.FloatField(source="s_granted_normalized_hours", allow_null=True)
        public_share = serializers.FloatField(
            source="s_public_share",
            allow_null=True,
            help_text="The public pool's share of granted normalized hours, by pool (its tenants of every kind, "
            "public bodies included); compare it with public_target.",
        )
        public_target = serializers.FloatField(
            source="s_public_target",
            allow_null=True,
            help_text="The public pool's weight in the engine, as a share of 1.",
        )
        public_target_met = serializers.BooleanField(
            source="s_public_target_met",
            allow_null=True,
            help_text="The public pool got at least its weight, or all its tenants' accepted demand.",
        )
        jain_index = serializers.FloatField(
            source="s_jain_index",
            allow_null=True,
            help_text="Jain's index of grant / entitlement; 1.0 is perfectly fair.",
        )
        pools = PoolSerializer(many=True, source="s_pools", allow_null=True)
        kinds = KindSerializer(
            many=True,
            source="s_kinds",
            allow_null=True,
            help_text="Per tenant kind, whatever the pool: a breakdown, not the public share.",
        )

        class Meta:
            ref_name = "AllocationRound"

    class DetailOutputSerializer(OutputSerializer):
        class TenantRowSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            name = serializers.CharField()
            kind = serializers.CharField()
            pool = serializers.IntegerField()
            demand = serializers.FloatField(help_text="Accepted normalized hours.")
            granted = serializers.FloatField()
            share = serializers.FloatField()
            explanation = serializers.CharField()

            class Meta:
                ref_name = "AllocationRoundTenant"

        class OverdrawnSerializer(serializers.Serializer):
            tenant = serializers.IntegerField()
            tenant_name = serializers.CharField()
            inventory = serializers.IntegerField()
            resource = serializers.CharField(help_text="site/chip_type")
            granted = serializers.FloatField(help_text="Normalized hours this round grants on the resource.")
            used = serializers.FloatField(
                help_text="Normalized hours the tenant had already booked there; its grant there once committed."
            )

            class Meta:
                ref_name = "AllocationRoundOverdrawn"

        tenants = TenantRowSerializer(many=True, source="tenant_rows")
        overdrawn = OverdrawnSerializer(
            many=True,
            help_text="Grants the tenant had already booked beyond this round's figure: committing keeps "
            "what was booked as the grant there, and nothing more can be booked on it. The "
            "preview's list; once committed, the list the commit found.",
        )
        tenants_count = serializers.IntegerField()
        tenants_truncated = serializers.BooleanField(help_text=f"Only the first {TENANT_ROWS} rows are shown.")
        grants_count = serializers.IntegerField()

        class Meta:
            ref_name = "AllocationRoundDetail"

    def get_queryset(self) -> QuerySet[AllocationRound]:
        if getattr(self, "swagger_fake_view", False):
            return AllocationRound.objects.none()
        return selectors.rounds_visible_to(user=self.request.user)

    def _visible(self, pk: Any) -> AllocationRound:
        return visible_or_404(self.get_queryset(), pk)

    def _detail(self, rnd: AllocationRound, *, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.DetailOutputSerializer(_summarised(rnd)).data, status=code)

    @extend_schema(
        summary="List allocation rounds (committee only; 403 for others)", responses=OutputSerializer(many=True)
    )
    def list(self, request: Request) -> Response:
        if not policies.is_committee(request.user):
            raise PermissionDenied(_("Only allocation committee members may see allocation rounds."))
        qs = _with_summary(self.filter_queryset(AllocationRound.objects.select_related("period", "created_by")))
        page = self.paginate_queryset(qs.order_by("-created_at", "-pk"))
        return self.get_paginated_response(self.OutputSerializer(page, many=True).data)

    @extend_schema(
        summary="An allocation round with its result and per-tenant explanation", responses=DetailOutputSerializer
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        return self._detail(self._visible(pk))

    @extend_schema(
        summary="Start a preview round for a period (committee)",
        description="Answers 202 at once; the engine runs in a worker. Poll the round until `ready` is true.",
        request=PreviewInputSerializer,
        responses={202: DetailOutputSerializer, 200: DetailOutputSerializer},
        examples=[OpenApiExample("Preview 2027 Q1", value={"period": "2027-q1"}, request_only=True)],
    )
    @idempotent("allocation-rounds.preview")
    def create(self, request: Request) -> Response:
        serializer = self.PreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rnd = services.round_preview_start(actor=request.user, period=serializer.validated_data["period"])
        return self._detail(self._visible(rnd.pk), code=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Commit a computed preview: its grants become the period's quotas (committee)",
        description="202: the commit is queued; the round becomes `committed` (and any earlier committed round "
        "of the period `superseded`) when the worker is done. 200: it already was committed.",
        request=None,
        responses={
            202: DetailOutputSerializer,
            200: OpenApiResponse(DetailOutputSerializer, description="Already committed."),
        },
    )
    @action(detail=True, methods=["post"])
    def commit(self, request: Request, pk: str) -> Response:
        rnd = self._visible(pk)
        if not services.round_commit_request(actor=request.user, round_id=rnd.pk):
            return self._detail(rnd)
        return self._detail(rnd, code=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Discard a preview (committee)", request=None, responses=DetailOutputSerializer)
    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str) -> Response:
        rnd = self._visible(pk)
        services.round_discard(actor=request.user, round_id=rnd.pk)
        return self._detail(self._visible(pk))
