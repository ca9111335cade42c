"""Allocation periods, requests, rounds and the quotas they grant.

Invariants:
- a period ends after it starts and its request deadline is not after its end;
- demands, accepted amounts and grants are never negative;
- a request's status changes only through its transition function in
  ``allocation.services.requests``; a round's through ``allocation.services.rounds``;
- a quota belongs to the round that wrote it; only quotas of a *committed*
  round are in force, and at most one round per period is committed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from allocation.models.sites import ChipType, Gigafactory, Inventory
from allocation.models.tenants import Tenant


class PeriodStatus(models.TextChoices):
    OPEN = "open", _("Open for requests")
    REVIEW = "review", _("Under review")
    CLOSED = "closed", _("Closed")


class AllocationPeriod(models.Model):
    name = models.CharField(_("name"), max_length=80)
    slug = models.SlugField(_("slug"), max_length=40, unique=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    request_deadline = models.DateTimeField(_("request deadline"))
    status = models.CharField(_("status"), max_length=8, choices=PeriodStatus.choices, default=PeriodStatus.OPEN)

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="period_ends_after_start"),
            models.CheckConstraint(condition=Q(request_deadline__lte=F("ends_at")), name="period_deadline_before_end"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def hours(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 3600


class RequestStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class AllocationRequest(models.Model):
    period = models.ForeignKey(AllocationPeriod, on_delete=models.PROTECT, related_name="requests")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="requests")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("title"), max_length=200)
    abstract = models.TextField(_("abstract"), blank=True)
    chip_type = models.ForeignKey(
        ChipType, on_delete=models.PROTECT, related_name="+", verbose_name=_("demand chip type")
    )
    demand_gpu_hours = models.FloatField(_("demand (GPU-hours)"))
    demand_normalized_hours = models.FloatField(_("demand (normalized hours)"))
    eligible_sites = models.ManyToManyField(Gigafactory, blank=True, related_name="+")
    eligible_chip_types = models.ManyToManyField(ChipType, blank=True, related_name="+")
    justification = models.TextField(_("justification"), blank=True)
    expected_outputs = models.TextField(_("expected outputs"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=RequestStatus.choices, default=RequestStatus.DRAFT)
    accepted_normalized_hours = models.FloatField(_("accepted (normalized hours)"), null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["period", "status"])]
        constraints = [
            models.CheckConstraint(condition=Q(demand_gpu_hours__gt=0), name="request_demand_positive"),
            models.CheckConstraint(condition=Q(demand_normalized_hours__gt=0), name="request_normalized_positive"),
            models.CheckConstraint(
                condition=Q(accepted_normalized_hours__isnull=True) | Q(accepted_normalized_hours__gte=0),
                name="request_accepted_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class RoundStatus(models.TextChoices):
    PREVIEW = "preview", _("Preview")
    COMMITTED = "committed", _("Committed")
    DISCARDED = "discarded", _("Discarded")
    SUPERSEDED = "superseded", _("Superseded")


class AllocationRound(models.Model):
    period = models.ForeignKey(AllocationPeriod, on_delete=models.PROTECT, related_name="rounds")
    status = models.CharField(_("status"), max_length=10, choices=RoundStatus.choices, default=RoundStatus.PREVIEW)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    committed_at = models.DateTimeField(_("committed at"), null=True, blank=True)
    # The engine's whole answer and explanation, so a committed round can be
    # audited later exactly as the committee saw it.
    result = models.JSONField(_("result"), null=True, blank=True)
    failure = models.TextField(_("failure"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["period"], condition=Q(status="committed"), name="round_one_committed_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period} round {self.pk} ({self.status})"


class Quota(models.Model):
    round = models.ForeignKey(AllocationRound, on_delete=models.PROTECT, related_name="quotas")
    period = models.ForeignKey(AllocationPeriod, on_delete=models.PROTECT, related_name="quotas")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="quotas")
    request = models.ForeignKey(AllocationRequest, on_delete=models.PROTECT, related_name="quotas")
    inventory = models.ForeignKey(Inventory, on_delete=models.PROTECT, related_name="quotas")
    gpu_hours = models.FloatField(_("GPU-hours"))
    normalized_hours = models.FloatField(_("normalized hours"))

    class Meta:
        ordering = ["tenant__name", "inventory"]
        constraints = [
            models.UniqueConstraint(fields=["round", "request", "inventory"], name="quota_once_per_round"),
            models.CheckConstraint(condition=Q(gpu_hours__gte=0), name="quota_gpu_hours_nonneg"),
            models.CheckConstraint(condition=Q(normalized_hours__gte=0), name="quota_normalized_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant}: {self.normalized_hours:.0f} h on {self.inventory}"
