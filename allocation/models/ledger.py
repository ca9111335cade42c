"""The ledgers that make overbooking impossible in the database itself.

Invariants (CHECK constraints, so no Python check can be raced past):
- per resource and hour, confirmed chips never exceed the chips in service
  that hour (``booked <= capacity``); a booking confirms by one UPDATE of its
  hours that either fits everywhere or fails as a whole;
- per tenant, period and resource (a *grant*), the normalized hours of
  bookings placed on that resource never exceed what the committed round
  granted there (``used <= granted``): a grant is spent only where it was
  granted. ``round_granted`` is the committed round's figure; ``granted`` is
  higher only for an *overdrawn* grant, one whose tenant had already booked
  more there than a later round granted: it is then what was booked, so
  nothing more can be booked on it;
- chips of bookings put at risk by maintenance are moved from ``booked`` to
  ``at_risk`` so maintenance can always lower capacity, and the bookings it
  displaced are flagged instead of silently overbooking the site.
Rows are written only by ``allocation.services.ledger``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from allocation.models.periods import AllocationPeriod
from allocation.models.sites import Inventory
from allocation.models.tenants import Tenant


class ResourceHour(models.Model):
    inventory = models.ForeignKey(Inventory, on_delete=models.CASCADE, related_name="hours")
    hour = models.DateTimeField()
    capacity = models.IntegerField()
    booked = models.IntegerField(default=0)
    at_risk = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["inventory", "hour"], name="resourcehour_once"),
            models.CheckConstraint(condition=Q(booked__gte=0), name="resourcehour_booked_nonneg"),
            models.CheckConstraint(condition=Q(capacity__gte=0), name="resourcehour_capacity_nonneg"),
            models.CheckConstraint(condition=Q(at_risk__gte=0), name="resourcehour_at_risk_nonneg"),
            models.CheckConstraint(condition=Q(booked__lte=F("capacity")), name="resourcehour_never_overbooked"),
        ]

    def __str__(self) -> str:
        return f"{self.inventory_id}@{self.hour:%Y-%m-%d %H:00}: {self.booked}/{self.capacity}"


class QuotaBalance(models.Model):
    """One grant: normalized hours a tenant may book on one resource in one period, and what it booked."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="balances")
    period = models.ForeignKey(AllocationPeriod, on_delete=models.CASCADE, related_name="balances")
    inventory = models.ForeignKey(Inventory, on_delete=models.CASCADE, related_name="balances")
    granted = models.FloatField(default=0)
    used = models.FloatField(default=0)
    # What the committed round granted here; ``granted`` only exceeds it when the grant is overdrawn.
    round_granted = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period", "inventory"], name="quotabalance_once"),
            models.CheckConstraint(condition=Q(used__gte=0), name="quotabalance_used_nonneg"),
            # A hair of tolerance: costs are sums of floats.
            models.CheckConstraint(condition=Q(used__lte=F("granted") + 1e-6), name="quotabalance_never_overdrawn"),
            models.CheckConstraint(condition=Q(round_granted__gte=0), name="quotabalance_round_granted_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.period_id}/{self.inventory_id}: {self.used:.1f} of {self.granted:.1f}"

    @property
    def remaining(self) -> float:
        return max(0.0, self.granted - self.used)

    @property
    def overdrawn(self) -> bool:
        return self.granted > self.round_granted + 1e-6
