"""The booking round: place pending flexible bookings with the engine.

Invariants:
- the engine decides on a snapshot (pending bookings, placed bookings and
  maintenance as reservations, each tenant's grants left per resource,
  fair-share factors), so a booking is offered only resources where its
  tenant holds a grant with hours left; the
  writes then go through the same ledger as fixed bookings, in batches of
  ``PLACEMENT_BATCH`` per transaction, and the ledger re-checks every
  placement under its row locks, so a snapshot gone stale can only make a
  placement fail (the booking stays pending with its reason), never overbook;
- each write locks the booking and re-checks it is still pending: two rounds
  running at once (two beat ticks, two workers) or a round re-run after a
  crash place nothing twice;
- shards are connected groups of resources (linked by bookings that accept
  several), so shards share no booking and can run on different workers.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from allocation import fairshare, selectors
from allocation.models import (
    AllocationPeriod,
    AuditEvent,
    Booking,
    BookingStatus,
    Inventory,
    MaintenanceWindow,
    Tenant,
    Verification,
)
from allocation.services import ledger, notifications
from allocation.services.audit import audit_event, snapshot
from allocation.services.bookings import AUDITED, MAX_HOURS, booking_transition

logger = logging.getLogger(__name__)

# Bookings that hold chips in the hours ahead; unlike models.PLACED_STATUSES, not the completed ones.
HOLDING_CHIPS = [BookingStatus.CONFIRMED, BookingStatus.ACTIVE, BookingStatus.AT_RISK]
# Placements written per transaction: large enough that statements, not round trips, dominate;
# small enough that a batch holds its row locks for well under a second.
PLACEMENT_BATCH = 500


def booking_round_shards(*, now: datetime | None = None) -> list[list[int]]:
    """Groups of inventory ids that pending bookings connect (union-find)."""
    now = now or timezone.now()
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    links: dict[int, list[int]] = defaultdict(list)
    through = Booking.eligible.through.objects.filter(
        booking__status=BookingStatus.PENDING, booking__latest_end__gt=now
    )
    for booking_id, inventory_id in through.values_list("booking_id", "inventory_id"):
        links[booking_id].append(inventory_id)
    for inventories in links.values():
        root = find(inventories[0])
        for other in inventories[1:]:
            parent[find(other)] = root
    groups: dict[int, list[int]] = defaultdict(list)
    for inventory_id in parent:
        groups[find(inventory_id)].append(inventory_id)
    return sorted(sorted(g) for g in groups.values())


def _engine_input(
    inventory_ids: list[int], period: AllocationPeriod, start: datetime, end: datetime
) -> tuple[fairshare.BookingInput, dict[str, Inventory]]:
    """The snapshot for one period: its hours, its grants on these resources, the bookings whose window overlaps it."""
    inventories = {
        f"{inv.gigafactory.slug}/{inv.chip_type.slug}": inv
        for inv in Inventory.objects.filter(pk__in=inventory_ids)
        .select_related("gigafactory", "chip_type")
        .order_by("gigafactory__slug", "chip_type__slug")
    }
    key_of = {inv.pk: (inv.gigafactory.slug, inv.chip_type.slug) for inv in inventories.values()}
    pending = list(
        Booking.objects.filter(
            status=BookingStatus.PENDING,
            latest_end__gt=start,
            earliest_start__lt=end,
            eligible__in=inventory_ids,
            tenant__verification=Verification.VERIFIED,
        )
        .distinct()
        .prefetch_related("eligible")
    )  # queued before a suspension: not placed
    placed = Booking.objects.filter(
        status__in=HOLDING_CHIPS, inventory_id__in=inventory_ids, starts_at__lt=end, ends_at__gt=start
    )
    reserved = [
        fairshare.Reservation(site=key_of[inv][0], chip_type=key_of[inv][1], chips=chips, start=s, end=e)
        for inv, chips, s, e in placed.values_list("inventory_id", "chips", "starts_at", "ends_at")
        if s is not None and e is not None  # placed bookings always have both (a CHECK says so)
    ]
    reserved += [
        fairshare.Reservation(
            site=key_of[w.inventory_id][0],
            chip_type=key_of[w.inventory_id][1],
            chips=w.chips,
            start=w.starts_at,
            end=w.ends_at,
        )
        for w in MaintenanceWindow.objects.filter(inventory_id__in=inventory_ids, starts_at__lt=end, ends_at__gt=start)
    ]
    tenant_ids = {b.tenant_id for b in pending}
    # One grant per resource of the shard where the tenant has hours left: it can be spent only there.
    grants: dict[int, list[fairshare.TenantGrant]] = defaultdict(list)
    for (tenant_id, inventory_id), left in sorted(
        selectors.quota_remaining(period=period, tenant_ids=tenant_ids).items()
    ):
        if inventory_id in key_of and left > 0:
            grants[tenant_id].append(
                fairshare.TenantGrant(id=str(inventory_id), eligible=(key_of[inventory_id],), normalized_hours=left)
            )
    exponents = selectors.fair_share_exponents_by_tenant(now=start)
    tenants = Tenant.objects.filter(pk__in=tenant_ids)
    engine_input = fairshare.BookingInput(
        resources=tuple(
            fairshare.Resource(
                site=inv.gigafactory.slug,
                chip_type=inv.chip_type.slug,
                throughput=inv.chip_type.throughput,
                chips=inv.chips_in_service,
            )
            for inv in inventories.values()
        ),
        tenants=tuple(
            fairshare.Tenant(id=str(t.pk), pool=str(t.pool_id), weight=t.weight, grants=tuple(grants[t.pk]))
            for t in tenants
        ),
        horizon_start=start,
        horizon_hours=int((end - start) / ledger.HOUR),
        reserved=tuple(reserved),
        bookings=tuple(
            fairshare.BookingAsk(
                id=str(b.pk),
                tenant=str(b.tenant_id),
                chips=b.chips,
                hours=b.hours,
                earliest_start=b.earliest_start or start,
                latest_end=b.latest_end or end,
                submitted_at=b.submitted_at,
                eligible=tuple(key_of[inv.pk] for inv in b.eligible.all() if inv.pk in key_of),
            )
            for b in sorted(pending, key=lambda b: b.pk)
        ),
        fair_share={str(t.pk): fairshare.factor_of(exponents.get(t.pk, 0.0)) for t in tenants},
        # The order itself: exact where F underflows (issue 11, item 6).
        fair_share_exponent={str(t.pk): exponents.get(t.pk, 0.0) for t in tenants},
    )
    return engine_input, inventories


def _place_batch(
    placements: list[fairshare.Placement], inventories: dict[str, Inventory], period: AllocationPeriod
) -> Counter[str]:
    """Write a batch of placements in one transaction: "placed", "already" (not pending any more) or
    the reason a placement no longer fits, counted. Bookings are locked before anything else and
    re-checked, so a round running twice places nothing twice."""
    with transaction.atomic():
        locked = Booking.objects.select_for_update().filter(pk__in=[int(p.booking) for p in placements])
        bookings = {b.pk: b for b in locked.order_by("pk")}
        todo = [
            (p, bookings[int(p.booking)])
            for p in placements
            if int(p.booking) in bookings and bookings[int(p.booking)].status == BookingStatus.PENDING
        ]
        holds = []
        for placement, booking in todo:
            inventory = inventories[f"{placement.site}/{placement.chip_type}"]
            holds.append(
                ledger.Hold(
                    inventory=inventory,
                    start=placement.start,
                    hours=booking.hours,
                    chips=booking.chips,
                    tenant_id=booking.tenant_id,
                    period=period,
                    cost=booking.chips * booking.hours * inventory.chip_type.throughput,
                )
            )
        outcome: Counter[str] = Counter(already=len(placements) - len(todo))
        placed: list[Booking] = []
        refused: list[Booking] = []
        events = []
        for (placement, booking), hold, reason in zip(todo, holds, ledger.holds_place(holds=holds), strict=True):
            if reason:
                booking.unplaced_reason = reason
                refused.append(booking)
                outcome[reason] += 1
                continue
            before = snapshot(booking, AUDITED)
            booking_transition(booking, BookingStatus.CONFIRMED)
            booking.inventory, booking.starts_at = hold.inventory, placement.start
            booking.ends_at = placement.start + booking.hours * ledger.HOUR
            booking.period, booking.cost_normalized_hours, booking.unplaced_reason = period, hold.cost, ""
            placed.append(booking)
            event = audit_event(
                actor=None, action="booking.placed", obj=booking, before=before, after=snapshot(booking, AUDITED)
            )
            event.tenant_id = booking.tenant_id  # the id is enough: no query per booking for its tenant
            events.append(event)
        _bookings_write(placed, refused)
        AuditEvent.objects.bulk_create(events)
        if placed:
            # One message per tenant (a row per member), one task per batch: a team that queued twenty
            # runs hears once, and a re-run of the task finds the rows sent.
            notifications.bookings_placed_notify(bookings=placed)
        outcome["placed"] = len(placed)
    return outcome


def _bookings_write(placed: list[Booking], refused: list[Booking]) -> None:
    """Plain executemany: Django's bulk_update builds a CASE per field and row, and compiling
    those took longer than everything else the batch does."""
    adapt = connection.ops.adapt_datetimefield_value
    table = Booking._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET status = %s, inventory_id = %s, starts_at = %s, ends_at = %s, period_id = %s, "
            f"cost_normalized_hours = %s, unplaced_reason = '' WHERE id = %s",
            [
                (
                    b.status,
                    b.inventory_id,
                    adapt(b.starts_at),
                    adapt(b.ends_at),
                    b.period_id,
                    b.cost_normalized_hours,
                    b.pk,
                )
                for b in placed
            ],
        )
        cursor.executemany(
            f"UPDATE {table} SET unplaced_reason = %s WHERE id = %s", [(b.unplaced_reason, b.pk) for b in refused]
        )


def booking_round_run(*, inventory_ids: list[int], now: datetime | None = None) -> dict[str, Any]:
    """Run the engine on one shard and write its placements, period by period.

    A placement draws on its tenant's grant on its resource in the period it falls in, so each period
    is its own round over its own hours; a booking whose window spans two
    periods is tried in the first and, if it did not fit, in the next.
    """
    now = now or timezone.now()
    started = time.perf_counter()
    start = ledger.ceil_hour(now)
    pending = Booking.objects.filter(status=BookingStatus.PENDING, latest_end__gt=now, eligible__in=inventory_ids)
    last_end = pending.aggregate(last=Max("latest_end"))["last"]
    if last_end is None:
        logger.debug("booking round shard %s: nothing pending", inventory_ids, extra={"resource_ids": inventory_ids})
        return {"bookings": 0, "placed": 0, "unplaced": {}}
    logger.info(
        "booking round shard %s: placing pending bookings", inventory_ids, extra={"resource_ids": inventory_ids}
    )
    considered = set(pending.values_list("id", flat=True))
    decided: set[int] = set()
    placed = 0
    for period in AllocationPeriod.objects.filter(ends_at__gt=start, starts_at__lt=last_end).order_by("starts_at"):
        begin = max(start, ledger.ceil_hour(period.starts_at))
        end = ledger.floor_hour(min(period.ends_at, last_end, begin + MAX_HOURS * ledger.HOUR))
        if end <= begin:
            continue
        engine_input, inventories = _engine_input(inventory_ids, period, begin, end)
        if not engine_input.bookings:
            continue
        decided.update(int(b.id) for b in engine_input.bookings)
        result = fairshare.place_bookings(engine_input)
        for i in range(0, len(result.placements), PLACEMENT_BATCH):
            placed += _place_batch(list(result.placements[i : i + PLACEMENT_BATCH]), inventories, period)["placed"]
        for unplaced in result.unplaced:
            Booking.objects.filter(pk=int(unplaced.booking), status=BookingStatus.PENDING).update(
                unplaced_reason=unplaced.reason
            )
    # What is left of these windows lies in no allocation period (submission refuses windows that never
    # did), so it can no longer hold the booking: a window reason, not a grant one.
    undecided = sorted(considered - decided)
    for i in range(0, len(undecided), 500):
        Booking.objects.filter(pk__in=undecided[i : i + 500], status=BookingStatus.PENDING).update(
            unplaced_reason="window"
        )
    still = Booking.objects.filter(pk__in=considered, status=BookingStatus.PENDING)
    reasons = dict(still.values("unplaced_reason").annotate(n=Count("id")).values_list("unplaced_reason", "n"))
    outcome = {"bookings": len(considered), "placed": placed, "unplaced": reasons}
    _shard_log(inventory_ids, outcome, time.perf_counter() - started)
    return outcome


def _shard_log(inventory_ids: list[int], outcome: dict[str, Any], seconds: float) -> None:
    unplaced = sum(outcome["unplaced"].values())
    logger.info(
        "booking round shard %s: %s bookings, %s placed, %s unplaced %s, in %.3f s",
        inventory_ids,
        outcome["bookings"],
        outcome["placed"],
        unplaced,
        outcome["unplaced"],
        seconds,
        extra={
            "resource_ids": inventory_ids,
            "bookings": outcome["bookings"],
            "placed": outcome["placed"],
            "unplaced": unplaced,
            "unplaced_reasons": outcome["unplaced"],
            "seconds": round(seconds, 3),
        },
    )
