"""The ledger's reads: chips in service and held per hour, free chips, the earliest slot that fits,
and the period a moment falls in. The writes (holds, releases, quota charges) stay in
``allocation.services.ledger``, which re-exports these for its callers."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from allocation.models import AllocationPeriod, Inventory, MaintenanceWindow, ResourceHour

HOUR = timedelta(hours=1)


def hour_range(start: datetime, hours: int) -> list[datetime]:
    return [start + i * HOUR for i in range(hours)]


def capacity_by_hour(*, inventory: Inventory, start: datetime, hours: int) -> dict[datetime, int]:
    """Chips in service each hour: the fleet minus overlapping maintenance."""
    end = start + hours * HOUR
    capacity = {h: inventory.chips_in_service for h in hour_range(start, hours)}
    windows = MaintenanceWindow.objects.filter(inventory=inventory, starts_at__lt=end, ends_at__gt=start)
    for chips, w_start, w_end in windows.values_list("chips", "starts_at", "ends_at"):
        for h in capacity:
            if w_start < h + HOUR and w_end > h:
                capacity[h] = max(0, capacity[h] - chips)
    return capacity


def period_at(moment: datetime) -> AllocationPeriod | None:
    # Plain SQL: every fixed booking asks, and compiling the ORM query cost more than running it.
    at = connection.ops.adapt_datetimefield_value(moment)
    found = AllocationPeriod.objects.raw(
        f"SELECT * FROM {AllocationPeriod._meta.db_table} "
        f"WHERE starts_at <= %s AND ends_at > %s ORDER BY starts_at LIMIT 1",
        [at, at],
    )
    return next(iter(found), None)


def capacity_and_held(*, inventory: Inventory, start: datetime, hours: int) -> dict[datetime, tuple[int, int]]:
    """Hour -> (chips in service, chips held) from the ledger; an hour without a
    row yet is the fleet minus its maintenance, with nothing held."""
    result = {h: (c, 0) for h, c in capacity_by_hour(inventory=inventory, start=start, hours=hours).items()}
    rows = ResourceHour.objects.filter(inventory=inventory, hour__gte=start, hour__lt=start + hours * HOUR)
    for hour, cap, booked, at_risk in rows.values_list("hour", "capacity", "booked", "at_risk"):
        result[hour] = (cap, booked + at_risk)
    return result


def free_chips(*, inventory: Inventory, start: datetime, hours: int) -> list[int]:
    """Free chips in each hour of the slot."""
    ledger = capacity_and_held(inventory=inventory, start=start, hours=hours)
    return [max(0, ledger[h][0] - ledger[h][1]) for h in sorted(ledger)]


def earliest_fit(
    *, inventory: Inventory, chips: int, hours: int, after: datetime, horizon_hours: int = 24 * 90
) -> datetime | None:
    """The first start at or after ``after`` where the slot fits, within the horizon."""
    free = free_chips(inventory=inventory, start=after, hours=horizon_hours + hours)
    run = 0
    for i, available in enumerate(free):
        run = run + 1 if available >= chips else 0
        if run == hours:
            return after + (i - hours + 1) * HOUR
    return None
