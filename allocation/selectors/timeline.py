"""What one resource's timeline shows: capacity each hour, the bookings placed on it and its maintenance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from allocation.models import Booking, Inventory, MaintenanceWindow
from allocation.models.bookings import PLACED_STATUSES
from allocation.selectors.ledger import HOUR, capacity_and_held


@dataclass(frozen=True)
class ResourceTimeline:
    capacity: list[int]  # chips in service each hour, in hour order
    placed: QuerySet[Booking]  # bookings holding chips there in the range (not yet evaluated)
    # Per placed booking: tenant id, tenant kind, chips, start, end.
    spans: list[tuple[int, str, int, datetime, datetime]]
    windows: list[tuple[int, datetime, datetime, str]]  # maintenance: chips, start, end, reason


def resource_timeline(*, inventory: Inventory, start: datetime, hours: int) -> ResourceTimeline:
    """The resource's hours from ``start``: three queries beside the ledger's."""
    end = start + hours * HOUR
    ledger = capacity_and_held(inventory=inventory, start=start, hours=hours)
    placed = Booking.objects.filter(
        inventory=inventory, status__in=PLACED_STATUSES, starts_at__lt=end, ends_at__gt=start
    )
    spans = [
        (tenant_id, kind, chips, s, e)
        for tenant_id, kind, chips, s, e in placed.values_list(
            "tenant_id", "tenant__kind", "chips", "starts_at", "ends_at"
        ).iterator()
        if s is not None and e is not None
    ]  # placed bookings always have both (a CHECK constraint)
    windows = list(
        MaintenanceWindow.objects.filter(inventory=inventory, starts_at__lt=end, ends_at__gt=start).values_list(
            "chips", "starts_at", "ends_at", "reason"
        )
    )
    return ResourceTimeline(
        capacity=[ledger[h][0] for h in sorted(ledger)], placed=placed, spans=spans, windows=windows
    )
