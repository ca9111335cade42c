"""Sites, their resources and the capacity they deliver."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet, Sum

from allocation.models import AllocationPeriod, Gigafactory, Inventory, MaintenanceWindow, Tenant


def sites_with_inventory() -> QuerySet[Gigafactory]:
    """Sites with their resources and per-site chip totals, in two queries."""
    return (
        Gigafactory.objects.annotate(
            chips_installed=Sum("inventory__chips_installed"),
            chips_in_service=Sum("inventory__chips_in_service"),
        )
        .prefetch_related(Prefetch("inventory", queryset=Inventory.objects.select_related("chip_type")))
        .order_by("-kind", "name")  # the four gigafactories first
    )


def capacity_totals() -> dict[str, int]:
    totals = Inventory.objects.aggregate(installed=Sum("chips_installed"), in_service=Sum("chips_in_service"))
    return {
        "sites": Gigafactory.objects.count(),
        "chips_installed": totals["installed"] or 0,
        "chips_in_service": totals["in_service"] or 0,
        "tenants": Tenant.objects.count(),
    }


def period_capacity(*, period: AllocationPeriod) -> dict[int, float]:
    """Inventory id -> GPU-hours the resource can deliver in the period.

    Chips in service for every hour of the period, minus the chip-hours that
    maintenance windows overlapping the period take out; never below zero.
    """
    hours = period.hours
    capacity = {
        inv_id: float(chips) * hours for inv_id, chips in Inventory.objects.values_list("id", "chips_in_service")
    }
    windows = MaintenanceWindow.objects.filter(starts_at__lt=period.ends_at, ends_at__gt=period.starts_at)
    for inv_id, chips, starts_at, ends_at in windows.values_list("inventory_id", "chips", "starts_at", "ends_at"):
        overlap = (min(ends_at, period.ends_at) - max(starts_at, period.starts_at)).total_seconds() / 3600
        capacity[inv_id] = max(0.0, capacity[inv_id] - chips * overlap)
    return capacity


def resources_matching(*, site_ids: Iterable[int] = (), chip_type_ids: Iterable[int] = ()) -> QuerySet[Inventory]:
    """Resources matching a request's acceptable sites and chip types (empty = any)."""
    qs = Inventory.objects.select_related("gigafactory", "chip_type")
    sites, chips = list(site_ids), list(chip_type_ids)
    if sites:
        qs = qs.filter(gigafactory_id__in=sites)
    if chips:
        qs = qs.filter(chip_type_id__in=chips)
    return qs.order_by("gigafactory__slug", "chip_type__slug")
