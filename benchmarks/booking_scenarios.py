"""Seeded generator of gigafactory-scale booking rounds for the benchmarks.

Invariants:
- Same arguments, same ``BookingInput`` (only ``random.Random(seed)`` is used).
- 11 sites x 2-3 chip types (28 resources with the default seed layout), each
  with thousands to ~40,000 chips; a horizon of ``hours`` whole hours starting
  on the hour; some maintenance reservations; every booking fits the horizon
  length and names at least one existing resource.
- Demand is deliberately above capacity (about 1.5x in chip-hours) so the
  round exercises all three outcomes, not just the easy first fit.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from allocation.fairshare.types import (
    BookingAsk,
    BookingInput,
    Reservation,
    Resource,
    ResourceKey,
    Tenant,
)

SITES = ("MUC", "BCN", "TUR", "OST", "JUL", "LUX", "HEL", "PAR", "AMS", "LIS", "WAW")
CHIP_TYPES = {"H100": 1.0, "H200": 1.4, "B200": 2.5, "MI300X": 1.3}
_CHIPS_CHOICES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_CHIPS_WEIGHTS = (20, 18, 16, 14, 11, 9, 6, 4, 2)
_HOURS_CHOICES = (4, 8, 12, 24, 48, 72, 120, 168, 336, 504)
_HOURS_WEIGHTS = (10, 12, 14, 14, 16, 12, 9, 6, 5, 2)
HORIZON_START = datetime(2027, 1, 4, tzinfo=UTC)


def gigafactory_resources(rng: random.Random, chip_scale: float = 1.0) -> tuple[Resource, ...]:
    """11 sites with 2-3 chip types each (28 resources), chips 2,000..40,000 x chip_scale."""
    resources: list[Resource] = []
    for index, site in enumerate(SITES):
        # Six sites carry three chip types, five carry two: 6*3 + 5*2 = 28.
        count = 3 if index < 6 else 2
        for chip_type in rng.sample(sorted(CHIP_TYPES), count):
            chips = max(int(rng.randrange(2_000, 40_001, 8) * chip_scale), 1)
            resources.append(Resource(site, chip_type, CHIP_TYPES[chip_type], chips * 2160.0, chips))
    return tuple(resources)


def gigafactory_booking_input(
    *,
    seed: int,
    bookings: int = 100_000,
    hours: int = 2160,
    tenants: int = 20_000,
    chip_scale: float = 1.0,
) -> BookingInput:
    """``chip_scale`` shrinks every resource with the booking count (for smoke runs)."""
    rng = random.Random(seed)
    resources = gigafactory_resources(rng, chip_scale)
    keys: list[ResourceKey] = [r.key for r in resources]
    by_site: dict[str, list[ResourceKey]] = {}
    by_chip: dict[str, list[ResourceKey]] = {}
    for site, chip in keys:
        by_site.setdefault(site, []).append((site, chip))
        by_chip.setdefault(chip, []).append((site, chip))

    tenant_list = tuple(
        Tenant(
            f"t{i}",
            f"p{i % 12}",
            1.0,
            None if rng.random() < 0.3 else float(rng.randrange(10_000, 5_000_000)),
        )
        for i in range(tenants)
    )
    fair_share = {t.id: rng.uniform(0.05, 1.0) for t in tenant_list}

    reserved = []
    for resource in resources:
        for _ in range(rng.randrange(0, 4)):
            start = HORIZON_START + timedelta(hours=rng.randrange(0, hours))
            reserved.append(
                Reservation(
                    resource.site,
                    resource.chip_type,
                    rng.randrange(resource.chips // 20, resource.chips // 4 + 1),
                    start,
                    start + timedelta(hours=rng.randrange(4, 97)),
                )
            )

    asks: list[BookingAsk] = []
    for i in range(bookings):
        length = rng.choices(_HOURS_CHOICES, _HOURS_WEIGHTS)[0]
        chips = rng.choices(_CHIPS_CHOICES, _CHIPS_WEIGHTS)[0]
        # Some windows start off the hour to exercise inward rounding.
        offset_minutes = rng.choice((0, 0, 0, 15, 30))
        earliest = HORIZON_START + timedelta(hours=rng.randrange(0, hours - length + 1), minutes=offset_minutes)
        slack = rng.choice((0, 12, 24, 72, 168, 336, 720))
        latest = earliest + timedelta(hours=length + slack + (1 if offset_minutes else 0))
        kind = rng.random()
        if kind < 0.5:
            eligible = tuple(by_chip[rng.choice(sorted(by_chip))])
        elif kind < 0.8:
            eligible = (rng.choice(keys),)
        else:
            eligible = tuple(by_site[rng.choice(SITES)])
        submitted = HORIZON_START - timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
        asks.append(
            BookingAsk(
                f"b{i}",
                f"t{rng.randrange(tenants)}",
                chips,
                length,
                earliest,
                latest,
                submitted,
                eligible,
            )
        )

    return BookingInput(
        resources=resources,
        tenants=tenant_list,
        horizon_start=HORIZON_START,
        horizon_hours=hours,
        reserved=tuple(reserved),
        bookings=tuple(asks),
        fair_share=fair_share,
    )
