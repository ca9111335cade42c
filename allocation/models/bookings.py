"""Bookings of chips in time and the usage operators report for them.

Invariants (database-enforced):
- chips and hours are positive; a placed booking ends ``hours`` after it
  starts, on whole hours; a flexible window ends after it starts;
- a placed (confirmed, active, completed, at-risk) booking has a resource
  and a start; a pending one may not;
- an idempotency key is unique per tenant; a usage record id is unique;
- only an adjustment (a record that ``corrects`` another) is negative.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from allocation.models.periods import AllocationPeriod
from allocation.models.sites import Inventory
from allocation.models.tenants import Tenant


class BookingKind(models.TextChoices):
    FIXED = "fixed", _("Fixed")
    FLEXIBLE = "flexible", _("Flexible")


class BookingStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CONFIRMED = "confirmed", _("Confirmed")
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    EXPIRED = "expired", _("Expired")
    CANCELLED = "cancelled", _("Cancelled")
    AT_RISK = "at_risk", _("At risk")


PLACED_STATUSES = (
    BookingStatus.CONFIRMED,
    BookingStatus.ACTIVE,
    BookingStatus.COMPLETED,
    BookingStatus.AT_RISK,
)


class Booking(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="bookings")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=8, choices=BookingKind.choices)
    status = models.CharField(_("status"), max_length=10, choices=BookingStatus.choices)
    chips = models.IntegerField(_("chips"))
    hours = models.IntegerField(_("hours"))
    inventory = models.ForeignKey(
        Inventory,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bookings",
        verbose_name=_("resource"),
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    earliest_start = models.DateTimeField(_("earliest start"), null=True, blank=True)
    latest_end = models.DateTimeField(_("latest end"), null=True, blank=True)
    eligible = models.ManyToManyField(Inventory, blank=True, related_name="+")
    # The period whose quota pays for the booking, and how much it drew.
    period = models.ForeignKey(AllocationPeriod, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    cost_normalized_hours = models.FloatField(_("cost (normalized hours)"), default=0)
    unplaced_reason = models.CharField(_("reason not placed"), max_length=10, blank=True)
    idempotency_key = models.CharField(max_length=120, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), auto_now_add=True)

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["tenant", "status"]),
            models.Index(fields=["inventory", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(chips__gt=0), name="booking_chips_positive"),
            models.CheckConstraint(condition=Q(hours__gt=0), name="booking_hours_positive"),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="booking_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(latest_end__isnull=True) | Q(latest_end__gt=F("earliest_start")),
                name="booking_window_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=[s.value for s in PLACED_STATUSES])
                | (Q(inventory__isnull=False) & Q(starts_at__isnull=False)),
                name="booking_placed_has_slot",
            ),
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="booking_idempotency_key_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tenant}: {self.chips} chips x {self.hours} h ({self.status})"


class UsageRecord(models.Model):
    record_id = models.CharField(_("record id"), max_length=120, unique=True)
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="usage_records")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="usage_records")
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("at"))
    gpu_hours = models.FloatField(_("GPU-hours"))
    normalized_hours = models.FloatField(_("normalized hours"))
    # An adjustment: a signed correction of the reported record it names, dated as that record
    # (so the decayed usage of the two together is never negative), with the operator's reason.
    corrects = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustments",
        verbose_name=_("corrects"),
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["tenant", "at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(gpu_hours__gte=0) | Q(corrects__isnull=False), name="usage_gpu_hours_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(normalized_hours__gte=0) | Q(corrects__isnull=False), name="usage_normalized_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}: {self.normalized_hours:.1f} h"
