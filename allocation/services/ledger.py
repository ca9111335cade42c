"""Hold and release chips per hour and normalized hours of grants.

Invariants:
- the database refuses any hold that does not fit (CHECK constraints in
  ``allocation.models.ledger``); this module only turns that refusal into a
  ``Conflict`` naming ``capacity`` or ``quota`` (and the grant: its resource and period);
- a booking draws only on its tenant's grant on the booking's resource in the
  period its start falls in (one ``QuotaBalance`` row per tenant, period and
  resource); no other grant pays for it;
- a round commit never fails because a tenant already booked more than the
  new round grants it: that grant becomes what was booked (overdrawn) and
  nothing more can be booked on it (``balances_regrant``);
- every transaction locks ledger rows in one global order (resource hours by
  inventory then hour, then grant rows by tenant, period, inventory), so concurrent bookings wait
  for each other instead of deadlocking; so does the one statement that
  confirms a fixed booking on PostgreSQL (``services.bookings._confirm_at_once``);
- every call must run inside the caller's transaction; a failed hold is
  rolled back to a savepoint and leaves the caller's transaction usable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Case, F, When
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from allocation import selectors
from allocation.models import (
    AllocationPeriod,
    Inventory,
    QuotaBalance,
    ResourceHour,
)

# The ledger's reads live in selectors.ledger; named here too (``x as x``: re-exported) so that
# ``ledger.free_chips`` and friends keep working for the services, pages and tests that use them.
from allocation.selectors.ledger import HOUR as HOUR
from allocation.selectors.ledger import capacity_and_held as capacity_and_held
from allocation.selectors.ledger import capacity_by_hour as capacity_by_hour
from allocation.selectors.ledger import earliest_fit as earliest_fit
from allocation.selectors.ledger import free_chips as free_chips
from allocation.selectors.ledger import hour_range as hour_range
from allocation.selectors.ledger import period_at as period_at
from allocation.services.errors import Conflict

TOLERANCE = 1e-6  # costs are sums of floats; the CHECK constraint allows the same hair


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


def ensure_hours(*, inventory: Inventory, start: datetime, hours: int, some_missing: bool = False) -> None:
    """Create the ledger rows a booking will touch (concurrent callers are fine).

    ``some_missing``: the caller has just seen that not every row exists, so
    skip looking which do; the insert leaves existing rows untouched anyway.
    """
    end = start + hours * HOUR
    have: set[datetime] = set()
    if not some_missing:
        have = set(
            ResourceHour.objects.filter(inventory=inventory, hour__gte=start, hour__lt=end).values_list(
                "hour", flat=True
            )
        )
        if len(have) == hours:
            return
    capacity = capacity_by_hour(inventory=inventory, start=start, hours=hours)
    missing = [(h, c) for h, c in capacity.items() if h not in have]
    adapt = connection.ops.adapt_datetimefield_value
    for i in range(0, len(missing), 300):  # plain SQL: the first booking of every hour comes this way
        batch = missing[i : i + 300]
        _execute(
            f"INSERT INTO {ResourceHour._meta.db_table} (inventory_id, hour, capacity, booked, at_risk) "
            f"VALUES {', '.join(['(%s, %s, %s, 0, 0)'] * len(batch))} ON CONFLICT DO NOTHING",
            [value for h, c in batch for value in (inventory.pk, adapt(h), c)],
        )


def _execute(sql: str, params: list[Any]) -> tuple[list[tuple[Any, ...]], int]:
    """Plain SQL for the booking hot path: the ORM's query compilation costs more than the query."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return (cursor.fetchall() if cursor.description else []), cursor.rowcount


def _slot(inventory_id: int, start: datetime, hours: int) -> list[Any]:
    adapt = connection.ops.adapt_datetimefield_value
    return [inventory_id, adapt(start), adapt(start + hours * HOUR)]


def _locked_hours(inventory_id: int, start: datetime, hours: int) -> list[tuple[int, int]]:
    """Lock the slot's rows in hour order; (id, free chips) per existing hour."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    rows, __ = _execute(
        f"SELECT id, capacity - booked - at_risk FROM {ResourceHour._meta.db_table} "
        f"WHERE inventory_id = %s AND hour >= %s AND hour < %s ORDER BY hour{lock}",
        _slot(inventory_id, start, hours),
    )
    return [(pk, free) for pk, free in rows]


def _locked_slot(inventory: Inventory, start: datetime, hours: int) -> list[tuple[int, int]]:
    """Lock every hour of the slot in hour order: (id, free chips), row i being hour ``start + i``;
    rows missing are created first, with the rest of their period (``_ledger_span``)."""
    rows = _locked_hours(inventory.pk, start, hours)
    if len(rows) < hours:
        begin, span = _ledger_span(start, hours)
        ensure_hours(inventory=inventory, start=begin, hours=span, some_missing=True)
        rows = _locked_hours(inventory.pk, start, hours)
    if len(rows) < hours:  # a row vanished in between (its resource was just deleted)
        raise Conflict(
            "capacity",
            _("%(resource)s has no ledger for some hour of that slot.") % {"resource": inventory},
            code="capacity",
        )
    return rows


def _add_to_hours(inventory_id: int, start: datetime, hours: int, column: str, chips: int) -> None:
    _execute(
        f"UPDATE {ResourceHour._meta.db_table} SET {column} = {column} + %s "
        f"WHERE inventory_id = %s AND hour >= %s AND hour < %s",
        [chips, *_slot(inventory_id, start, hours)],
    )


def _ledger_span(start: datetime, hours: int) -> tuple[datetime, int]:
    """The hours to create when a slot finds rows missing: the whole allocation
    period around it, so a resource pays for the miss once per period, not once
    per newly booked hour; just the slot where no period covers it."""
    begin, end = start, start + hours * HOUR
    period = period_at(start)
    if period is not None:
        begin, end = min(begin, ceil_hour(period.starts_at)), max(end, floor_hour(period.ends_at))
    return begin, int((end - begin) / HOUR)


def hold_chips(*, inventory: Inventory, start: datetime, hours: int, chips: int) -> None:
    """Hold chips for every hour of the slot, or raise ``Conflict`` having changed nothing.

    Two round trips on the usual path: lock the hours (in hour order), then
    one UPDATE. The rows are locked when their free chips are compared, and
    the CHECK constraint refuses an overbooking whatever this code does.
    """
    rows = _locked_slot(inventory, start, hours)
    least = min(free for __, free in rows)
    if least < chips:
        raise Conflict(
            "capacity",
            _("Only %(free)s chips of %(resource)s are free in some hour of that slot; %(chips)s were asked for.")
            % {"free": f"{max(least, 0):,}", "resource": inventory, "chips": f"{chips:,}"},
            code="capacity",
            free=max(least, 0),
        )
    _add_to_hours(inventory.pk, start, hours, "booked", chips)


def release_chips(*, inventory_id: int, start: datetime, hours: int, chips: int, at_risk: bool = False) -> None:
    if hours <= 0:
        return
    _locked_hours(inventory_id, start, hours)
    _add_to_hours(inventory_id, start, hours, "at_risk" if at_risk else "booked", -chips)


def restore_at_risk(*, inventory_id: int, start: datetime, hours: int, chips: int) -> None:
    """Move an at-risk booking's chips back to ``booked`` if every hour has room again."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    rows, __ = _execute(
        f"SELECT capacity - booked FROM {ResourceHour._meta.db_table} "
        f"WHERE inventory_id = %s AND hour >= %s AND hour < %s ORDER BY hour{lock}",
        _slot(inventory_id, start, hours),
    )
    room = min((r[0] for r in rows), default=0)
    if len(rows) < hours or room < chips:
        raise Conflict(
            "capacity",
            _("Only %(free)s chips are back in service in some hour of that slot; the booking holds %(chips)s.")
            % {"free": f"{max(room, 0):,}", "chips": f"{chips:,}"},
            code="capacity",
        )
    _execute(
        f"UPDATE {ResourceHour._meta.db_table} SET booked = booked + %s, at_risk = at_risk - %s "
        f"WHERE inventory_id = %s AND hour >= %s AND hour < %s",
        [chips, chips, *_slot(inventory_id, start, hours)],
    )


def _grant_missing(inventory: Inventory, period: AllocationPeriod) -> Conflict:
    return Conflict(
        "quota",
        _("No grant of yours covers %(resource)s in %(period)s.") % {"resource": inventory, "period": period.name},
        code="quota",
        resource=str(inventory),
        remaining=0.0,
    )


def _grant_short(inventory: Inventory, period: AllocationPeriod, left: float, cost: float) -> Conflict:
    return Conflict(
        "quota",
        _("Your grant on %(resource)s in %(period)s has %(left)s normalized hours left; this booking needs %(need)s.")
        % {"resource": inventory, "period": period.name, "left": f"{max(left, 0.0):,.1f}", "need": f"{cost:,.1f}"},
        code="quota",
        resource=str(inventory),
        remaining=max(left, 0.0),
    )


def _balance(tenant_id: int, period_id: int, inventory_id: int) -> QuotaBalance | None:
    """The grant's ledger row, locked; created from the committed round's quota when missing (None: no grant)."""
    rows = QuotaBalance.objects.select_for_update().filter(
        tenant_id=tenant_id, period_id=period_id, inventory_id=inventory_id
    )
    balance = rows.first()
    if balance is not None:
        return balance
    in_force = selectors.grants_in_force(period_id=period_id, tenant_ids=[tenant_id]).get((tenant_id, inventory_id))
    if in_force is None:
        return None
    QuotaBalance.objects.bulk_create(
        [
            QuotaBalance(
                tenant_id=tenant_id,
                period_id=period_id,
                inventory_id=inventory_id,
                granted=in_force,
                round_granted=in_force,
            )
        ],
        ignore_conflicts=True,
    )
    return rows.first()


def charge_quota(*, tenant_id: int, period: AllocationPeriod | None, inventory: Inventory, cost: float) -> None:
    """Draw ``cost`` from the tenant's grant on ``inventory`` for the period, or raise ``Conflict`` naming it.

    One conditional UPDATE on the usual path: it takes the row lock and
    re-checks the balance under it, so concurrent charges queue up and only
    those that fit succeed (and the CHECK constraint stands behind it).
    """
    if period is None:
        raise Conflict(
            "quota", _("No allocation period covers that time, so there is no grant to book from."), code="quota"
        )
    charge = (
        f"UPDATE {QuotaBalance._meta.db_table} SET used = used + %s "
        f"WHERE tenant_id = %s AND period_id = %s AND inventory_id = %s AND used <= granted - %s + %s"
    )
    params = [cost, tenant_id, period.pk, inventory.pk, cost, TOLERANCE]
    if _execute(charge, params)[1]:
        return
    balance = _balance(tenant_id, period.pk, inventory.pk)  # absent until the grant's first booking
    if balance is None:
        raise _grant_missing(inventory, period)
    if _execute(charge, params)[1]:
        return
    raise _grant_short(inventory, period, balance.granted - balance.used, cost)


def refund_quota(*, tenant_id: int, period_id: int | None, inventory_id: int | None, cost: float) -> None:
    """Give ``cost`` back to the grant it was drawn from. An overdrawn grant shrinks with its bookings
    (down to what the round granted), so a refund never lets its tenant book what the round did not grant."""
    if period_id is None or inventory_id is None or cost <= 0:
        return
    if _balance(tenant_id, period_id, inventory_id) is None:
        return
    QuotaBalance.objects.filter(tenant_id=tenant_id, period_id=period_id, inventory_id=inventory_id).update(
        used=F("used") - cost,
        granted=Case(
            When(granted__gt=F("round_granted"), then=Greatest(F("round_granted"), F("granted") - cost)),
            default=F("granted"),
        ),
    )


@dataclass(frozen=True)
class Overdrawn:
    """A grant its tenant had already booked beyond what a new round grants it."""

    tenant_id: int
    inventory_id: int
    granted: float  # what the round grants
    used: float  # what the tenant had booked, now its grant

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant_id, "inventory": self.inventory_id, "granted": self.granted, "used": self.used}


def balances_regrant(*, period_id: int, tenant_ids: Iterable[int]) -> list[Overdrawn]:
    """After a round commits: the grants in force change, what was booked does not.

    A grant whose tenant already booked more than the new figure keeps what it
    booked as its grant (overdrawn: nothing more can be booked on it) instead
    of refusing the whole round; those grants are returned. A handful of
    queries however many tenants the round touched.
    """
    ids = sorted(set(tenant_ids))
    granted = selectors.grants_in_force(period_id=period_id, tenant_ids=ids)
    balances = {
        (b.tenant_id, b.inventory_id): b
        for b in QuotaBalance.objects.select_for_update()
        .filter(period_id=period_id, tenant_id__in=ids)
        .order_by("tenant_id", "inventory_id")
    }
    overdrawn = []
    for key, balance in balances.items():
        balance.round_granted = granted.get(key, 0.0)
        balance.granted = max(balance.round_granted, balance.used)
        if balance.used > balance.round_granted + TOLERANCE:
            overdrawn.append(Overdrawn(key[0], key[1], balance.round_granted, balance.used))
    QuotaBalance.objects.bulk_update(list(balances.values()), ["granted", "round_granted"], batch_size=2000)
    QuotaBalance.objects.bulk_create(
        [
            QuotaBalance(tenant_id=t, period_id=period_id, inventory_id=i, granted=hours, round_granted=hours)
            for (t, i), hours in sorted(granted.items())
            if (t, i) not in balances
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
    return overdrawn


def grants_overdrawn(*, period_id: int, granted: dict[tuple[int, int], float]) -> list[Overdrawn]:
    """The grants a round granting ``granted`` ((tenant, inventory) -> hours) would find overdrawn (a read)."""
    rows = QuotaBalance.objects.filter(period_id=period_id, used__gt=TOLERANCE).order_by("tenant_id", "inventory_id")
    return [
        Overdrawn(t, i, granted.get((t, i), 0.0), used)
        for t, i, used in rows.values_list("tenant_id", "inventory_id", "used")
        if used > granted.get((t, i), 0.0) + TOLERANCE
    ]


@dataclass(frozen=True)
class Hold:
    """One booking's claim on the ledger: chips of a resource for whole hours, and its grant there."""

    inventory: Inventory
    start: datetime
    hours: int
    chips: int
    tenant_id: int
    period: AllocationPeriod
    cost: float  # normalized hours

    @property
    def grant(self) -> tuple[int, int, int]:
        return (self.tenant_id, self.period.pk, self.inventory.pk)


def holds_place(*, holds: Sequence[Hold]) -> list[str]:
    """Hold many bookings' chips and grants at once, each only if it still fits.

    Returns, per hold in order, "" when held or the reason it was not
    (``capacity`` or ``quota``: no grant with enough left on its resource);
    refused holds change nothing. The booking round writes thousands of
    placements: this takes a few statements for a whole batch instead of a
    transaction each. The rows are locked in the global order (hours by
    inventory then hour, then grants by tenant, period, inventory) before
    they are compared, and the CHECK constraints stand behind it.
    """
    if not holds:
        return []
    span: dict[int, tuple[datetime, datetime]] = {}
    inventories: dict[int, Inventory] = {}
    for h in holds:
        end = h.start + h.hours * HOUR
        begin, last = span.get(h.inventory.pk, (h.start, end))
        span[h.inventory.pk] = (min(begin, h.start), max(last, end))
        inventories[h.inventory.pk] = h.inventory
    free: dict[tuple[int, datetime], int] = {}
    row_of: dict[tuple[int, datetime], int] = {}
    for inventory_id in sorted(span):
        begin, end = span[inventory_id]
        hours = int((end - begin) / HOUR)
        for i, (pk, available) in enumerate(_locked_slot(inventories[inventory_id], begin, hours)):
            free[(inventory_id, begin + i * HOUR)] = available
            row_of[(inventory_id, begin + i * HOUR)] = pk
    remaining, balance_of = _locked_balances({h.grant for h in holds})

    outcome: list[str] = []
    booked: dict[int, int] = {}
    used: dict[int, float] = {}
    for h in holds:
        slot = [(h.inventory.pk, h.start + i * HOUR) for i in range(h.hours)]
        if any(free.get(s, 0) < h.chips for s in slot):
            outcome.append("capacity")
        elif remaining.get(h.grant, 0.0) < h.cost - TOLERANCE:
            outcome.append("quota")
        else:
            outcome.append("")
            remaining[h.grant] -= h.cost
            used[balance_of[h.grant]] = used.get(balance_of[h.grant], 0.0) + h.cost
            for s in slot:
                free[s] -= h.chips
                booked[row_of[s]] = booked.get(row_of[s], 0) + h.chips
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {ResourceHour._meta.db_table} SET booked = booked + %s WHERE id = %s",
            [(chips, pk) for pk, chips in sorted(booked.items())],
        )
        cursor.executemany(
            f"UPDATE {QuotaBalance._meta.db_table} SET used = used + %s WHERE id = %s",
            [(cost, pk) for pk, cost in sorted(used.items())],
        )
    return outcome


Grant = tuple[int, int, int]  # (tenant, period, inventory)


def _locked_balances(grants: set[Grant]) -> tuple[dict[Grant, float], dict[Grant, int]]:
    """Grant -> normalized hours remaining and -> ledger row id, for the grants that exist (rows created
    from the committed round where missing), locked in (tenant, period, inventory) order."""
    by_period: dict[int, set[int]] = {}
    for tenant_id, period_id, _inventory_id in grants:
        by_period.setdefault(period_id, set()).add(tenant_id)
    for period_id, tenant_ids in sorted(by_period.items()):
        have = set(
            QuotaBalance.objects.filter(period_id=period_id, tenant_id__in=tenant_ids).values_list(
                "tenant_id", "inventory_id"
            )
        )
        in_force = selectors.grants_in_force(period_id=period_id, tenant_ids=tenant_ids)
        missing = sorted(key for key in in_force if key not in have and (key[0], period_id, key[1]) in grants)
        if missing:
            QuotaBalance.objects.bulk_create(
                [
                    QuotaBalance(
                        tenant_id=t,
                        period_id=period_id,
                        inventory_id=i,
                        granted=in_force[(t, i)],
                        round_granted=in_force[(t, i)],
                    )
                    for t, i in missing
                ],
                ignore_conflicts=True,
            )
    remaining: dict[Grant, float] = {}
    balance_of: dict[Grant, int] = {}
    rows = (
        QuotaBalance.objects.select_for_update()
        .filter(
            tenant_id__in={g[0] for g in grants},
            period_id__in={g[1] for g in grants},
            inventory_id__in={g[2] for g in grants},
        )
        .order_by("tenant_id", "period_id", "inventory_id")
    )
    for pk, tenant_id, period_id, inventory_id, granted, spent in rows.values_list(
        "id", "tenant_id", "period_id", "inventory_id", "granted", "used"
    ):
        remaining[(tenant_id, period_id, inventory_id)] = granted - spent
        balance_of[(tenant_id, period_id, inventory_id)] = pk
    return remaining, balance_of


# For maintenance and resource changes (``allocation.services.maintenance``): they lock the hours
# they touch in the same global order as bookings (by inventory, then hour), then set capacity.


def hours_locked(*, inventory: Inventory, start: datetime, hours: int) -> list[tuple[int, datetime, int, int]]:
    """Every ledger row of the slot, created if missing, locked in hour order: (id, hour, capacity, booked)."""
    if hours <= 0:
        return []
    ensure_hours(inventory=inventory, start=start, hours=hours)
    rows = (
        ResourceHour.objects.select_for_update()
        .filter(inventory=inventory, hour__gte=start, hour__lt=start + hours * HOUR)
        .order_by("hour")
    )
    return list(rows.values_list("id", "hour", "capacity", "booked"))


def slots_locked(*, slots: Sequence[tuple[Inventory, datetime, int]]) -> None:
    """Lock several slots' hours in the global order (by inventory, then hour), creating missing rows."""
    for inventory, start, hours in sorted(slots, key=lambda s: (s[0].pk, s[1])):
        hours_locked(inventory=inventory, start=start, hours=hours)


def capacity_set(*, capacity_by_row: dict[int, int]) -> None:
    """Set the chips in service of ledger rows the caller has locked (``hours_locked``)."""
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {ResourceHour._meta.db_table} SET capacity = %s WHERE id = %s",
            [(chips, pk) for pk, chips in sorted(capacity_by_row.items())],
        )


def chips_to_at_risk(*, inventory_id: int, start: datetime, hours: int, chips: int) -> None:
    """A booking put at risk: its chips move from ``booked`` to ``at_risk`` for its whole slot."""
    _execute(
        f"UPDATE {ResourceHour._meta.db_table} SET booked = booked - %s, at_risk = at_risk + %s "
        f"WHERE inventory_id = %s AND hour >= %s AND hour < %s",
        [chips, chips, *_slot(inventory_id, start, hours)],
    )


def slot_lock(*, inventory_id: int, start: datetime, hours: int) -> None:
    """Lock a placed booking's existing hours (hour order) before its row: the order maintenance takes them in."""
    _locked_hours(inventory_id, start, hours)
