"""What site operators do: schedule maintenance (usage reports: ``allocation.services.usage``).

Invariants:
- maintenance always goes in: when it takes chips that confirmed bookings
  hold, the latest-submitted of those bookings are flagged ``at_risk`` (their
  chips moved from ``booked`` to ``at_risk`` in the ledger) until every hour
  fits again, and their tenants are told; the site is never silently
  overbooked and never silently loses a booking;
- only operators (or platform admins) do it.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from allocation import policies
from allocation.models import Booking, BookingStatus, Inventory, MaintenanceWindow, ResourceHour
from allocation.services import ledger
from allocation.services.audit import audit_record, snapshot
from allocation.services.bookings import AUDITED, booking_transition
from allocation.services.errors import NotAllowed, ServiceError
from allocation.services.notifications import notify_tenant


def _covers(booking: Booking, hour: datetime) -> bool:
    return booking.starts_at is not None and booking.ends_at is not None and booking.starts_at <= hour < booking.ends_at


def _flag_at_risk(booking: Booking) -> None:
    before = snapshot(booking, AUDITED)
    booking_transition(booking, BookingStatus.AT_RISK)
    booking.save(update_fields=["status"])
    assert booking.starts_at is not None and booking.inventory_id is not None
    ResourceHour.objects.filter(inventory_id=booking.inventory_id, hour__gte=booking.starts_at,
                                hour__lt=booking.ends_at).update(booked=F("booked") - booking.chips,
                                                                 at_risk=F("at_risk") + booking.chips)
    audit_record(actor=None, action="booking.at_risk", obj=booking, tenant=booking.tenant, before=before,
                 after=snapshot(booking, AUDITED))
    notify_tenant(tenant_id=booking.tenant_id, subject=f"Booking {booking.pk} is at risk",
                  body=f"Maintenance on {booking.inventory} takes chips your booking holds from "
                       f"{booking.starts_at:%Y-%m-%d %H:00} UTC. A site operator will contact you.")


@transaction.atomic
def maintenance_create(
    *, actor: Any, inventory: Inventory, chips: int, starts_at: datetime, ends_at: datetime, reason: str = ""
) -> tuple[MaintenanceWindow, list[Booking]]:
    """Schedule maintenance; returns the window and the bookings it put at risk."""
    if not policies.is_operator(actor):
        raise NotAllowed("Only site operators schedule maintenance.")
    if not isinstance(chips, int) or chips <= 0:
        raise ServiceError("chips", "Take a whole, positive number of chips out of service.")
    if ends_at <= starts_at:
        raise ServiceError("ends_at", "Maintenance must end after it starts.")
    window = MaintenanceWindow.objects.create(inventory=inventory, chips=chips, starts_at=starts_at,
                                              ends_at=ends_at, reason=reason)
    first = ledger.floor_hour(starts_at)
    hours = math.ceil((ends_at - first) / ledger.HOUR)
    ledger.ensure_hours(inventory=inventory, start=first, hours=hours)
    list(ResourceHour.objects.select_for_update().filter(inventory=inventory, hour__gte=first,
                                                         hour__lt=first + hours * ledger.HOUR).order_by("hour"))
    displaced: list[Booking] = []
    fresh = ledger.capacity_by_hour(inventory=inventory, start=first, hours=hours)
    for row in ResourceHour.objects.filter(inventory=inventory, hour__gte=first,
                                           hour__lt=first + hours * ledger.HOUR).order_by("hour"):
        # Rows created just now already count this window; older rows do not.
        new_capacity = min(row.capacity, fresh[row.hour])
        booked = row.booked - sum(b.chips for b in displaced if _covers(b, row.hour))
        if booked > new_capacity:
            holders = Booking.objects.select_for_update().filter(
                inventory=inventory, status__in=[BookingStatus.CONFIRMED, BookingStatus.ACTIVE],
                starts_at__lte=row.hour, ends_at__gt=row.hour).exclude(pk__in=[b.pk for b in displaced]) \
                .order_by("-submitted_at", "-pk")
            for booking in holders:
                if booked <= new_capacity:
                    break
                _flag_at_risk(booking)
                displaced.append(booking)
                booked -= booking.chips
        ResourceHour.objects.filter(pk=row.pk).update(capacity=new_capacity)
    audit_record(actor=actor, action="maintenance.scheduled", obj=window,
                 after={"inventory": inventory.pk, "chips": chips, "starts_at": starts_at.isoformat(),
                        "ends_at": ends_at.isoformat(), "at_risk": [b.pk for b in displaced]})
    return window, displaced


@transaction.atomic
def booking_at_risk_resolve(*, actor: Any, booking: Booking, now: datetime | None = None) -> Booking:
    """An operator re-confirms an at-risk booking once its chips are back in service.

    Refused (``Conflict`` on ``capacity``) while any of its hours is still
    short; the other resolution is ``booking_cancel``.
    """
    if not policies.is_operator(actor):
        raise NotAllowed("Only site operators resolve bookings at risk.")
    booking = Booking.objects.select_for_update().get(pk=booking.pk)
    before = snapshot(booking, AUDITED)
    started = booking.starts_at is not None and booking.starts_at <= (now or timezone.now())
    booking_transition(booking, BookingStatus.ACTIVE if started else BookingStatus.CONFIRMED)
    assert booking.inventory_id is not None and booking.starts_at is not None
    ledger.restore_at_risk(inventory_id=booking.inventory_id, start=booking.starts_at, hours=booking.hours,
                           chips=booking.chips)
    booking.save(update_fields=["status"])
    audit_record(actor=actor, action="booking.resolved", obj=booking, tenant=booking.tenant, before=before,
                 after=snapshot(booking, AUDITED))
    notify_tenant(tenant_id=booking.tenant_id, subject=f"Booking {booking.pk} is confirmed again",
                  body="The chips it holds are back in service.")
    return booking
