"""Reads. Every query a page, an endpoint or a task needs goes through here.

Invariants: nothing here writes; list selectors return querysets with the
relations a caller shows already joined, so list pages run a bounded number
of queries whatever their length.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.db.models import Prefetch, Q, QuerySet, Sum
from django.db.models.expressions import Col
from django.utils import timezone

from allocation import fairshare, policies
from allocation.models import (
    AllocationPeriod,
    AllocationRequest,
    AllocationRound,
    AuditEvent,
    Booking,
    ChipType,
    Contribution,
    Gigafactory,
    GlobalRole,
    Heartbeat,
    Inventory,
    MaintenanceWindow,
    Membership,
    Pool,
    Quota,
    QuotaBalance,
    RequestStatus,
    RoundStatus,
    Tenant,
    UsageRecord,
)


def global_roles(*, user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(GlobalRole.objects.filter(user=user).values_list("role", flat=True))


def memberships_of(*, user: Any) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def pool_weights(*, min_public_share: float | None = None) -> dict[int, float]:
    """Pool id -> weight, as shares summing to 1.

    A pool's raw weight is its partners' contributions in EUR. The public pool
    is then lifted to at least ``PUBLIC_POOL_MIN_SHARE`` and the private pools
    scaled down together, so no mix of private money can push public access
    below its floor.
    """
    floor = settings.PUBLIC_POOL_MIN_SHARE if min_public_share is None else min_public_share
    raw: dict[int, Decimal] = defaultdict(Decimal)
    for pool_id in Pool.objects.values_list("id", flat=True):
        raw[pool_id] = Decimal(0)
    totals = Contribution.objects.values("partner__pool").annotate(total=Sum("amount_eur"))
    for row in totals:
        raw[row["partner__pool"]] += row["total"] or Decimal(0)
    grand = sum(raw.values())
    if not raw:
        return {}
    if grand == 0:
        return {pool_id: 1 / len(raw) for pool_id in raw}
    shares = {pool_id: float(amount / grand) for pool_id, amount in raw.items()}
    public_id = Pool.objects.filter(is_public=True).values_list("id", flat=True).first()
    if public_id is not None and shares.get(public_id, 0.0) < floor:
        rest = 1.0 - shares[public_id]
        scale = (1.0 - floor) / rest if rest > 0 else 0.0
        shares = {pid: (floor if pid == public_id else share * scale) for pid, share in shares.items()}
    return shares


def sites_with_inventory() -> QuerySet[Gigafactory]:
    """Sites with their resources and per-site chip totals, in two queries."""
    return (
        Gigafactory.objects.annotate(
            chips_installed=Sum("inventory__chips_installed"),
            chips_in_service=Sum("inventory__chips_in_service"),
        )
        .prefetch_related(
            Prefetch("inventory", queryset=Inventory.objects.select_related("chip_type"))
        )
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
        inv_id: float(chips) * hours
        for inv_id, chips in Inventory.objects.values_list("id", "chips_in_service")
    }
    windows = MaintenanceWindow.objects.filter(starts_at__lt=period.ends_at, ends_at__gt=period.starts_at)
    for inv_id, chips, starts_at, ends_at in windows.values_list("inventory_id", "chips", "starts_at", "ends_at"):
        overlap = (min(ends_at, period.ends_at) - max(starts_at, period.starts_at)).total_seconds() / 3600
        capacity[inv_id] = max(0.0, capacity[inv_id] - chips * overlap)
    return capacity


def eligible_inventory(*, site_ids: Iterable[int] = (), chip_type_ids: Iterable[int] = ()) -> QuerySet[Inventory]:
    """Resources matching a request's acceptable sites and chip types (empty = any)."""
    qs = Inventory.objects.select_related("gigafactory", "chip_type")
    sites, chips = list(site_ids), list(chip_type_ids)
    if sites:
        qs = qs.filter(gigafactory_id__in=sites)
    if chips:
        qs = qs.filter(chip_type_id__in=chips)
    return qs.order_by("gigafactory__slug", "chip_type__slug")


@dataclass(frozen=True)
class AllocationSnapshot:
    """What an allocation round sees of the database, ready for the engine."""

    engine_input: fairshare.AllocationInput
    capacity: dict[int, float]  # inventory id -> GPU-hours
    inventory: dict[str, Inventory]  # "site/chip" -> row
    pool_weight: dict[int, float]
    tenants: dict[int, Tenant]
    requests: dict[int, AllocationRequest]

    def fingerprint(self) -> str:
        """Changes whenever a decision, capacity or weight the round used changes."""
        material = repr((sorted(self.capacity.items()), sorted(self.pool_weight.items()),
                         sorted((r.pk, r.accepted_normalized_hours) for r in self.requests.values())))
        return hashlib.sha256(material.encode()).hexdigest()


def allocation_snapshot(*, period: AllocationPeriod) -> AllocationSnapshot:
    """Accepted requests of the period with current capacity and pool weights.

    A bounded number of queries whatever the number of requests: the
    eligibility many-to-many tables are read in one query each.
    """
    capacity = period_capacity(period=period)
    inventory = {f"{inv.gigafactory.slug}/{inv.chip_type.slug}": inv
                 for inv in Inventory.objects.select_related("gigafactory", "chip_type")}
    resources = tuple(
        fairshare.Resource(site=inv.gigafactory.slug, chip_type=inv.chip_type.slug,
                           throughput=inv.chip_type.throughput, capacity_gpu_hours=capacity.get(inv.pk, 0.0),
                           chips=inv.chips_in_service)
        for inv in sorted(inventory.values(), key=lambda i: (i.gigafactory.slug, i.chip_type.slug))
    )
    weights = pool_weights()
    requests = {r.pk: r for r in AllocationRequest.objects.filter(
        period=period, status=RequestStatus.ACCEPTED).select_related("tenant")}
    sites_of: dict[int, set[int]] = defaultdict(set)
    chips_of: dict[int, set[int]] = defaultdict(set)
    through_sites = AllocationRequest.eligible_sites.through.objects.filter(allocationrequest_id__in=requests)
    for req_id, site_id in through_sites.values_list("allocationrequest_id", "gigafactory_id"):
        sites_of[req_id].add(site_id)
    through_chips = AllocationRequest.eligible_chip_types.through.objects.filter(allocationrequest_id__in=requests)
    for req_id, chip_id in through_chips.values_list("allocationrequest_id", "chiptype_id"):
        chips_of[req_id].add(chip_id)
    tenants = {r.tenant_id: r.tenant for r in requests.values()}
    engine_requests = []
    for req in requests.values():
        eligible = tuple(
            (inv.gigafactory.slug, inv.chip_type.slug) for inv in inventory.values()
            if (not sites_of[req.pk] or inv.gigafactory_id in sites_of[req.pk])
            and (not chips_of[req.pk] or inv.chip_type_id in chips_of[req.pk])
        )
        engine_requests.append(fairshare.Request(id=str(req.pk), tenant=str(req.tenant_id),
                                                 demand=req.accepted_normalized_hours or 0.0, eligible=eligible))
    engine_input = fairshare.AllocationInput(
        resources=resources,
        # A pool nobody pays for still exists; it only gets what the others leave.
        pools=tuple(fairshare.Pool(id=str(pid), weight=max(w, 1e-6)) for pid, w in sorted(weights.items())),
        tenants=tuple(fairshare.Tenant(id=str(t.pk), pool=str(t.pool_id), weight=t.weight)
                      for t in sorted(tenants.values(), key=lambda t: t.pk)),
        requests=tuple(sorted(engine_requests, key=lambda r: int(r.id))),
    )
    return AllocationSnapshot(engine_input=engine_input, capacity=capacity, inventory=inventory,
                              pool_weight=weights, tenants=tenants, requests=requests)


# --- Visibility: what a user may see at all (everything else is a 404) ----


def tenants_of(*, user: Any) -> QuerySet[Tenant]:
    return Tenant.objects.filter(memberships__user=user).select_related("pool")


def requests_visible_to(*, user: Any) -> QuerySet[AllocationRequest]:
    """Members see their tenants' requests; the committee sees every submitted one."""
    qs = AllocationRequest.objects.select_related("tenant", "period", "chip_type", "decided_by")
    own = Q(tenant__memberships__user=user)
    if policies.is_committee(user):
        return qs.filter(own | ~Q(status=RequestStatus.DRAFT)).distinct()
    return qs.filter(own)


def quotas_visible_to(*, user: Any) -> QuerySet[Quota]:
    """Quotas in force (committed rounds) of the user's tenants, or all for the committee."""
    qs = Quota.objects.filter(round__status=RoundStatus.COMMITTED).select_related(
        "tenant", "period", "request", "inventory__gigafactory", "inventory__chip_type")
    if policies.is_committee(user) or policies.is_operator(user):
        return qs
    return qs.filter(tenant__memberships__user=user)


def review_queue(*, period: AllocationPeriod, filters: dict[str, Any] | None = None) -> QuerySet[AllocationRequest]:
    """Submitted requests of a period, optionally by tenant kind, pool, chip type, site."""
    f = filters or {}
    qs = AllocationRequest.objects.filter(period=period, status=RequestStatus.SUBMITTED).select_related(
        "tenant__pool", "chip_type").prefetch_related("eligible_sites", "eligible_chip_types")
    if f.get("kind"):
        qs = qs.filter(tenant__kind=f["kind"])
    if f.get("pool"):
        qs = qs.filter(tenant__pool_id=f["pool"])
    if f.get("chip_type"):
        qs = qs.filter(Q(chip_type_id=f["chip_type"]) | Q(eligible_chip_types=f["chip_type"])).distinct()
    if f.get("site"):
        qs = qs.filter(Q(eligible_sites=f["site"]) | Q(eligible_sites__isnull=True)).distinct()
    return qs.order_by("submitted_at", "pk")


def demand_against_capacity(*, period: AllocationPeriod) -> list[dict[str, Any]]:
    """Per resource: capacity, and the submitted and accepted demand that could use it.

    A request that accepts several resources counts against each of them, so
    the figures show contention, not a partition.
    """
    capacity = period_capacity(period=period)
    inventory = list(Inventory.objects.select_related("gigafactory", "chip_type").order_by(
        "gigafactory__slug", "chip_type__slug"))
    rows: dict[int, dict[str, Any]] = {inv.pk: {"inventory": inv, "submitted": 0.0, "accepted": 0.0,
                     "capacity_normalized_hours": capacity.get(inv.pk, 0.0) * inv.chip_type.throughput}
            for inv in inventory}
    live = AllocationRequest.objects.filter(period=period, status__in=[RequestStatus.SUBMITTED, RequestStatus.ACCEPTED])
    sites_of: dict[int, set[int]] = defaultdict(set)
    chips_of: dict[int, set[int]] = defaultdict(set)
    for req_id, site_id in AllocationRequest.eligible_sites.through.objects.filter(
            allocationrequest__in=live).values_list("allocationrequest_id", "gigafactory_id"):
        sites_of[req_id].add(site_id)
    for req_id, chip_id in AllocationRequest.eligible_chip_types.through.objects.filter(
            allocationrequest__in=live).values_list("allocationrequest_id", "chiptype_id"):
        chips_of[req_id].add(chip_id)
    for req_id, state, demand, accepted in live.values_list("id", "status", "demand_normalized_hours",
                                                             "accepted_normalized_hours"):
        for inv in inventory:
            if (sites_of[req_id] and inv.gigafactory_id not in sites_of[req_id]) or (
                    chips_of[req_id] and inv.chip_type_id not in chips_of[req_id]):
                continue
            if state == RequestStatus.SUBMITTED:
                rows[inv.pk]["submitted"] += demand
            else:
                rows[inv.pk]["accepted"] += accepted or 0.0
    return list(rows.values())


def audit_visible_to(*, user: Any) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("actor", "tenant")
    if policies.is_committee(user):
        return qs
    return qs.filter(tenant__memberships__user=user)


def _recent_usage(*, now: datetime, tenant_ids: Iterable[int] | None = None) -> list[fairshare.Usage]:
    """Usage records that still weigh: older than 20 half-lives is less than a millionth."""
    half_life = settings.FAIR_SHARE_HALF_LIFE_HOURS
    records = UsageRecord.objects.filter(at__gt=now - timedelta(hours=20 * half_life), at__lte=now)
    if tenant_ids is not None:
        records = records.filter(tenant_id__in=list(tenant_ids))
    # An adjustment is dated as the record it corrects: summed per moment, a record and its
    # corrections weigh what they net to, never less than nothing (max() absorbs float rounding).
    netted = records.values("tenant_id", "at").annotate(hours=Sum("normalized_hours")).order_by()
    return [fairshare.Usage(tenant=str(tenant_id), at=at, normalized_hours=max(hours, 0.0))
            for tenant_id, at, hours in netted.values_list("tenant_id", "at", "hours")]


def fair_share_exponents_by_tenant(*, now: datetime) -> dict[int, float]:
    """Tenant id -> x with F = 2^-x (effective usage over share): lowest served first, exact where F underflows."""
    from allocation.fairshare.factor import fair_share_exponents

    tenants = [fairshare.Tenant(id=str(pk), pool=str(pool_id), weight=weight)
               for pk, pool_id, weight in Tenant.objects.values_list("id", "pool_id", "weight")]
    pools = [fairshare.Pool(id=str(pid), weight=max(w, 1e-6)) for pid, w in pool_weights().items()]
    exponents = fair_share_exponents(pools=pools, tenants=tenants, usage=_recent_usage(now=now), now=now,
                                     half_life_hours=settings.FAIR_SHARE_HALF_LIFE_HOURS)
    return {int(tenant_id): x for tenant_id, x in exponents.items()}


def fair_share_by_tenant(*, now: datetime) -> dict[int, float]:
    """Tenant id -> Slurm-style fair-share factor F in (0, 1] from decayed usage (never 0.0: see
    ``fair_share_exponents_by_tenant`` to order tenants whose F is below the smallest float)."""
    from allocation.fairshare.factor import factor_of

    return {tenant_id: factor_of(x) for tenant_id, x in fair_share_exponents_by_tenant(now=now).items()}


def fair_share_of(*, user: Any, now: datetime) -> list[dict[str, Any]]:
    """The user's tenants with their factor F (as a float, as 6 significant digits that hold below the
    smallest float, and as the exponent x of F = 2^-x that orders exactly) and decayed usage, as the
    booking round sees them."""
    from allocation.fairshare.factor import decayed_usage, factor_of, factor_text

    tenants = list(tenants_of(user=user).order_by("name"))
    exponents = fair_share_exponents_by_tenant(now=now)
    decayed = decayed_usage(
        tenants=[fairshare.Tenant(id=str(t.pk), pool=str(t.pool_id), weight=t.weight) for t in tenants],
        usage=_recent_usage(now=now, tenant_ids=[t.pk for t in tenants]),
        now=now, half_life_hours=settings.FAIR_SHARE_HALF_LIFE_HOURS)
    rows = []
    for t in tenants:
        x = exponents.get(t.pk, 0.0)
        rows.append({"tenant": t, "factor": factor_of(x), "factor_text": factor_text(x), "exponent": x,
                     "decayed_usage_normalized_hours": decayed[str(t.pk)]})
    return rows


def rounds_visible_to(*, user: Any) -> QuerySet[AllocationRound]:
    """Every round for the committee (and platform admins), none for anyone else."""
    if not policies.is_committee(user):
        return AllocationRound.objects.none()
    return AllocationRound.objects.select_related("period", "created_by")


def quota_remaining(*, period: AllocationPeriod, tenant_ids: Iterable[int]) -> dict[tuple[int, int], float]:
    """(tenant id, inventory id) -> normalized hours of that grant for the period not yet booked (two queries)."""
    ids = list(tenant_ids)
    granted, used = _granted_and_used(period, ids)
    return {key: max(0.0, hours - used.get(key, 0.0)) for key, hours in granted.items()}


def quota_in_force(*, period_id: int, tenant_ids: Iterable[int]) -> dict[int, float]:
    """Tenant id -> normalized hours granted for the period by its committed round, on all resources (absent: none)."""
    totals: dict[int, float] = defaultdict(float)
    for (tenant_id, _inventory_id), hours in grants_in_force(period_id=period_id, tenant_ids=tenant_ids).items():
        totals[tenant_id] += hours
    return dict(totals)


def grants_in_force(*, period_id: int, tenant_ids: Iterable[int]) -> dict[tuple[int, int], float]:
    """(tenant id, inventory id) -> normalized hours its committed round granted there for the period."""
    rows = Quota.objects.filter(period_id=period_id, tenant_id__in=list(tenant_ids),
                                round__status=RoundStatus.COMMITTED).order_by()
    return {(t, i): float(total or 0.0) for t, i, total in rows.values("tenant_id", "inventory_id").annotate(
        total=Sum("normalized_hours")).values_list("tenant_id", "inventory_id", "total")}


def _granted_and_used(period: AllocationPeriod, ids: list[int]
                      ) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
    """Per grant (tenant, inventory): granted (the ledger's figure, which an overdrawn grant raises to what
    was booked; the committed round's where the ledger has no row yet) and booked."""
    granted = grants_in_force(period_id=period.pk, tenant_ids=ids)
    used: dict[tuple[int, int], float] = {}
    for t, i, g, u in QuotaBalance.objects.filter(period=period, tenant_id__in=ids).values_list(
            "tenant_id", "inventory_id", "granted", "used"):
        granted[(t, i)], used[(t, i)] = g, u
    return granted, used


def quota_summary(*, tenant_id: int, period: AllocationPeriod, inventory_id: int) -> dict[str, float]:
    """Granted, booked and remaining normalized hours of a tenant's grant on one resource for the period."""
    granted, used = _granted_and_used(period, [tenant_id])
    g, u = float(granted.get((tenant_id, inventory_id), 0.0)), float(used.get((tenant_id, inventory_id), 0.0))
    return {"granted": g, "used": u, "booked": u, "remaining": max(0.0, g - u)}


@dataclass(frozen=True)
class GrantRow:
    """One grant as tenants and the committee see it: where, how much, how much booked and used."""

    tenant: Tenant
    period: AllocationPeriod
    inventory: Inventory
    round_granted: float  # what the committed round granted
    granted: float  # what may be booked: higher than round_granted only when overdrawn
    booked: float  # normalized hours of bookings placed on it
    used: float  # normalized hours the site reported for those bookings

    @property
    def remaining(self) -> float:
        return max(0.0, self.granted - self.booked)

    @property
    def overdrawn(self) -> bool:
        return self.granted > self.round_granted + 1e-6


def grants_visible_to(*, user: Any, period: AllocationPeriod | None = None) -> list[GrantRow]:
    """The grants of the user's tenants (all, for the committee and operators): see ``grants_of``."""
    tenant_ids = None
    if not (policies.is_committee(user) or policies.is_operator(user)):
        tenant_ids = list(tenants_of(user=user).values_list("pk", flat=True))
    return grants_of(tenant_ids=tenant_ids, period=period)


def grants_of(*, tenant_ids: Iterable[int] | None, period: AllocationPeriod | None = None) -> list[GrantRow]:
    """The grants of these tenants (None: every tenant), by period, tenant, resource: every grant of a
    committed round, and every resource a tenant has booked on (an overdrawn grant).

    Six queries whatever the number of grants."""
    quotas = Quota.objects.filter(round__status=RoundStatus.COMMITTED)
    balances = QuotaBalance.objects.filter(Q(used__gt=0) | Q(granted__gt=0))
    if tenant_ids is not None:
        ids = list(tenant_ids)
        quotas, balances = quotas.filter(tenant_id__in=ids), balances.filter(tenant_id__in=ids)
    if period is not None:
        quotas, balances = quotas.filter(period=period), balances.filter(period=period)
    round_granted = {(t, p, i): float(total or 0.0) for t, p, i, total in quotas.order_by().values(
        "tenant_id", "period_id", "inventory_id").annotate(total=Sum("normalized_hours")).values_list(
        "tenant_id", "period_id", "inventory_id", "total")}
    ledger = {(t, p, i): (g, u) for t, p, i, g, u in balances.values_list(
        "tenant_id", "period_id", "inventory_id", "granted", "used")}
    keys = set(round_granted) | set(ledger)
    if not keys:
        return []
    who, when = {k[0] for k in keys}, {k[1] for k in keys}
    used = {(t, p, i): float(total or 0.0) for t, p, i, total in UsageRecord.objects.filter(
        tenant_id__in=who, booking__period_id__in=when).order_by().values(
        "tenant_id", "booking__period_id", "booking__inventory_id").annotate(total=Sum("normalized_hours"))
        .values_list("tenant_id", "booking__period_id", "booking__inventory_id", "total")}
    tenants = Tenant.objects.in_bulk(who)
    periods = AllocationPeriod.objects.in_bulk(when)
    inventories = Inventory.objects.select_related("gigafactory", "chip_type").in_bulk({k[2] for k in keys})
    rows = []
    for key in keys:
        granted, booked = ledger.get(key, (round_granted.get(key, 0.0), 0.0))
        rows.append(GrantRow(tenant=tenants[key[0]], period=periods[key[1]], inventory=inventories[key[2]],
                             round_granted=round_granted.get(key, 0.0), granted=granted, booked=booked,
                             used=used.get(key, 0.0)))
    return sorted(rows, key=lambda r: (r.period.starts_at, r.tenant.name, str(r.inventory), r.tenant.pk))


def bookings_visible_to(*, user: Any) -> QuerySet[Booking]:
    """Operators see every booking (they cancel and report usage for any); members their tenants'."""
    qs = Booking.objects.select_related("tenant", "inventory__gigafactory", "inventory__chip_type", "period",
                                        "created_by")
    if policies.is_operator(user):
        return qs
    return qs.filter(tenant__in=tenants_of(user=user).values("pk"))


def usage_visible_to(*, user: Any) -> QuerySet[UsageRecord]:
    """Operators see every usage record (they report it); members their tenants'."""
    qs = UsageRecord.objects.select_related("tenant", "reported_by", "booking__inventory__gigafactory",
                                            "booking__inventory__chip_type", "corrects")
    if policies.is_operator(user):
        return qs
    return qs.filter(tenant__in=tenants_of(user=user))


def bookings_filtered(bookings: QuerySet[Booking], *, status: str | None = None, site: Gigafactory | None = None,
                      tenant_name: str = "") -> QuerySet[Booking]:
    """The list pages' filters. A site matches bookings placed there and pending ones that accept it."""
    if status:
        bookings = bookings.filter(status=status)
    if site:
        bookings = bookings.filter(Q(inventory__gigafactory=site)
                                   | Q(inventory__isnull=True, eligible__gigafactory=site)).distinct()
    if tenant_name:
        bookings = bookings.filter(tenant__name__icontains=tenant_name)
    return bookings


def bookings_by_state(bookings: QuerySet[Booking]) -> dict[str, int]:
    """How many of these bookings are in each state, in one query."""
    counted = bookings.order_by().values_list("status").annotate(n=models.Count("pk", distinct=True))
    return dict(counted.values_list("status", "n"))


# --- The fixed-booking hot path -------------------------------------------


@dataclass(frozen=True)
class FixedBookingRows:
    """What a fixed booking names, each None when it names nothing (or nothing the user may book for)."""

    tenant: Tenant | None
    inventory: Inventory | None
    period: AllocationPeriod | None


_Converter = Callable[[Any, Any, Any], Any]


@functools.cache
def _row_reader(
    model: type[models.Model], alias: str, vendor: str,
) -> tuple[list[str], list[tuple[Col, list[_Converter]]]]:
    """A model's columns for ``SELECT alias.col, ...`` and the converters the ORM would apply to each.

    Cached per model and backend: building it compiles nothing per request.
    """
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = [f"{alias}.{quote(f.attname if f.column is None else f.column)}" for f in fields]
    readers = []
    for field in fields:
        col = Col(alias, field)
        readers.append((col, [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]))
    return columns, readers


def _instance(model: type[models.Model], alias: str, values: tuple[Any, ...]) -> Any:
    """A model instance from its columns as ``_row_reader`` selected them; None for an unmatched LEFT JOIN."""
    if values[0] is None:  # the primary key: never NULL in a row that exists
        return None
    _, readers = _row_reader(model, alias, connection.vendor)
    converted = []
    for value, (col, converters) in zip(values, readers, strict=True):
        for convert in converters:
            value = convert(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in model._meta.concrete_fields], converted)


_FIXED_PARTS: list[tuple[type[models.Model], str]] = [
    (Tenant, "t"), (Inventory, "i"), (Gigafactory, "g"), (ChipType, "c"), (AllocationPeriod, "p")]


@functools.cache
def _fixed_booking_sql(vendor: str) -> str:
    table = {model: connection.ops.quote_name(model._meta.db_table) for model, _ in _FIXED_PARTS}
    membership = connection.ops.quote_name(Membership._meta.db_table)
    columns = [c for model, alias in _FIXED_PARTS for c in _row_reader(model, alias, vendor)[0]]
    return (
        f"SELECT {', '.join(columns)} FROM (SELECT 1 AS one) AS one "
        f"LEFT JOIN {table[Tenant]} t ON t.slug = %s "
        f"AND t.id IN (SELECT m.tenant_id FROM {membership} m WHERE m.user_id = %s) "
        f"LEFT JOIN {table[Gigafactory]} g ON g.slug = %s "
        f"LEFT JOIN {table[ChipType]} c ON c.slug = %s "
        f"LEFT JOIN {table[Inventory]} i ON i.gigafactory_id = g.id AND i.chip_type_id = c.id "
        f"LEFT JOIN {table[AllocationPeriod]} p ON p.id = (SELECT p2.id FROM {table[AllocationPeriod]} p2 "
        f"WHERE p2.starts_at <= %s AND p2.ends_at > %s ORDER BY p2.starts_at LIMIT 1)"
    )


def fixed_booking_rows(*, user: Any, tenant_slug: str, site: str, chip_type: str, at: datetime) -> FixedBookingRows:
    """The user's tenant of that slug, the resource ``site/chip_type`` (site and chip type joined) and the
    allocation period ``at`` falls in: one round trip instead of three, because every fixed booking asks.

    The tenant is found through the user's membership, so it carries ``member_user_id`` as
    ``TenantOfUserField``'s does (``policies.is_member_of`` takes the membership as proven).
    """
    moment = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        cursor.execute(_fixed_booking_sql(connection.vendor), [tenant_slug, user.pk, site, chip_type, moment, moment])
        row = cursor.fetchone()
    parts, offset = {}, 0
    for model, alias in _FIXED_PARTS:
        width = len(model._meta.concrete_fields)
        parts[alias] = _instance(model, alias, tuple(row[offset:offset + width]))
        offset += width
    tenant, inventory = parts["t"], parts["i"]
    if tenant is not None:
        tenant.member_user_id = user.pk
    if inventory is not None:
        inventory.gigafactory, inventory.chip_type = parts["g"], parts["c"]
    return FixedBookingRows(tenant=tenant, inventory=inventory, period=parts["p"])


@dataclass(frozen=True)
class WorkerPulse:
    last_seen: datetime | None  # when a worker last ran beat's heartbeat task
    quiet: bool  # no beat for three intervals: queued work is probably not being picked up


def worker_pulse(*, now: datetime | None = None) -> WorkerPulse:
    """Whether background workers seem to be running, from beat's heartbeat. Pages that wait on a
    task use it to say why nothing happens instead of spinning forever."""
    now = now or timezone.now()
    seen = Heartbeat.objects.filter(name="beat").values_list("seen_at", flat=True).first()
    patience = timedelta(seconds=3 * settings.HEARTBEAT_SECONDS)
    return WorkerPulse(last_seen=seen, quiet=seen is None or now - seen > patience)
