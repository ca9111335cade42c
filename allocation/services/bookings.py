"""Bookings: fixed ones confirmed at once, flexible ones queued for the round.

Invariants:
- a booking's status changes only in ``booking_transition``, along the
  lifecycle of docs/vocabulary.md;
- a placed booking holds its chips in ``ResourceHour`` and its cost in the
  ``QuotaBalance`` of its tenant's grant on its resource (no other grant pays
  for it) in the same transaction that places it; cancelling gives back what
  it held, an active booking keeps what it already used;
- a flexible booking is queued only if it could be placed some day: its
  window holds its hours inside one allocation period, ends by the end of
  the last one, some eligible resource has the chips in service, and the
  tenant holds a grant with enough left on one of them;
- the database refuses what does not fit, so two clients racing for the last
  chips or the last quota get exactly one confirmation between them;
- an idempotency key is remembered per tenant with a fingerprint of the
  request: the same key and body return the original booking, the same key
  with another body is refused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from enum import Enum
from typing import Any, ParamSpec

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from allocation import policies, selectors, validators
from allocation.models import (
    AllocationPeriod,
    AuditEvent,
    Booking,
    BookingKind,
    BookingStatus,
    Inventory,
    QuotaBalance,
    ResourceHour,
    Tenant,
)
from allocation.services import ledger
from allocation.services.audit import audit_event, audit_record, snapshot
from allocation.services.errors import Conflict, IdempotencyMismatch, NotAllowed, ServiceError
from allocation.services.notifications import tenant_notify
from allocation.services.tenants import tenant_require_commit

logger = logging.getLogger(__name__)
P = ParamSpec("P")

MAX_HOURS = 24 * 92
TRANSITIONS: dict[str, set[str]] = {
    BookingStatus.PENDING: {BookingStatus.CONFIRMED, BookingStatus.EXPIRED, BookingStatus.CANCELLED},
    BookingStatus.CONFIRMED: {BookingStatus.ACTIVE, BookingStatus.CANCELLED, BookingStatus.AT_RISK},
    BookingStatus.ACTIVE: {BookingStatus.COMPLETED, BookingStatus.CANCELLED, BookingStatus.AT_RISK},
    BookingStatus.AT_RISK: {BookingStatus.CONFIRMED, BookingStatus.ACTIVE, BookingStatus.CANCELLED},
}
AUDITED = ["status", "inventory", "starts_at", "ends_at", "chips", "hours", "cost_normalized_hours"]


def booking_transition(booking: Booking, to: str) -> None:
    """The one place a booking's status changes."""
    if to not in TRANSITIONS.get(booking.status, set()):
        raise ServiceError(
            "status",
            _("A %(status)s booking cannot become %(to)s.")
            % {"status": booking.get_status_display().lower(), "to": BookingStatus(to).label.lower()},
            code="invalid_transition",
        )
    booking.status = to


def fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _validate_shape(*, chips: Any, hours: Any) -> None:
    if not isinstance(chips, int) or isinstance(chips, bool) or chips <= 0:
        raise ServiceError("chips", _("Book a whole, positive number of chips."))
    if not isinstance(hours, int) or isinstance(hours, bool) or hours <= 0 or hours > MAX_HOURS:
        raise ServiceError("hours", _("Book a whole number of hours from 1 to %(max)s.") % {"max": MAX_HOURS})


def _on_the_hour(moment: datetime, field: str) -> None:
    if moment.minute or moment.second or moment.microsecond:
        raise ServiceError(field, _("Bookings start on the hour (UTC), e.g. 2027-01-08T09:00:00Z."))


def _in_calendar(moment: datetime, field: str) -> None:
    # Front doors refuse these first; a caller that did not (a command, the admin) must not overflow.
    if (message := validators.moment_error(moment)) is not None:
        raise ServiceError(field, message)


def _replay(*, tenant: Tenant, key: str | None, body_fingerprint: str) -> Booking | None:
    if not key:
        return None
    existing = Booking.objects.filter(tenant=tenant, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != body_fingerprint:
        raise IdempotencyMismatch(
            "idempotency_key", _("This Idempotency-Key was used with a different request."), code="idempotency_mismatch"
        )
    return existing


class _Lookup(Enum):
    PERIOD = "look the period up"


_Create = Callable[P, tuple[Booking, bool]]


def _logs_refusal(kind: str) -> Callable[[_Create[P]], _Create[P]]:
    """One INFO line per refused booking (code, field, tenant, resources), none on success.

    Wrapped around the whole service so every refusal is logged however early it comes, and the
    success path pays one try block: nothing that formats or writes. Neither the message (which
    may name figures in the client's language) nor anything about the user goes into the line.
    """

    def wrap(create: _Create[P]) -> _Create[P]:
        @functools.wraps(create)
        def logged(*args: P.args, **kwargs: P.kwargs) -> tuple[Booking, bool]:
            try:
                return create(*args, **kwargs)
            except (ServiceError, NotAllowed) as refused:
                _refusal_log(kind, refused, kwargs)
                raise

        return logged

    return wrap


def _refusal_log(kind: str, refused: ServiceError | NotAllowed, kwargs: dict[str, Any]) -> None:
    tenant, inventory = kwargs.get("tenant"), kwargs.get("inventory")
    resource_ids = [inventory.pk] if inventory is not None else sorted(i.pk for i in kwargs.get("eligible") or [])
    code, field = (
        (refused.code, refused.field) if isinstance(refused, ServiceError) else ("not_allowed", "non_field_errors")
    )
    tenant_id = tenant.pk if tenant is not None else None
    logger.info(
        "%s booking refused (%s on %s): tenant %s, resources %s",
        kind,
        code,
        field,
        tenant_id,
        resource_ids,
        extra={
            "booking_kind": kind,
            "code": code,
            "field": field,
            "tenant_id": tenant_id,
            "resource_ids": resource_ids,
        },
    )


@_logs_refusal("fixed")
def booking_fixed_create(
    *,
    actor: Any,
    tenant: Tenant,
    inventory: Inventory,
    starts_at: datetime,
    hours: int,
    chips: int,
    idempotency_key: str | None = None,
    period: AllocationPeriod | _Lookup | None = _Lookup.PERIOD,
) -> tuple[Booking, bool]:
    """Confirm a fixed booking or refuse it; returns (booking, created).

    ``period``: the allocation period ``starts_at`` falls in (None: none does), when the caller
    already read it with the other rows (``selectors.fixed_booking_rows``); looked up otherwise.
    """
    if not policies.is_member_of(actor, tenant):
        raise NotAllowed(_("Only members of the tenant may book for it."))
    tenant_require_commit(tenant)  # from the row the caller read: no query
    _validate_shape(chips=chips, hours=hours)
    _in_calendar(starts_at, "starts_at")
    _on_the_hour(starts_at, "starts_at")
    body_fingerprint = fingerprint(
        {"kind": "fixed", "inventory": inventory.pk, "starts_at": starts_at.isoformat(), "hours": hours, "chips": chips}
    )
    # A key is looked up only when something refuses the booking: a replay that
    # would otherwise go through is refused by the unique (tenant, key) constraint
    # on insert, which rolls its holds back; so a new key costs no extra query.
    try:
        if starts_at < timezone.now() - ledger.HOUR:
            raise ServiceError("starts_at", _("That hour has passed; book from the current hour on."))
        if chips > inventory.chips_in_service:
            raise ServiceError(
                "chips",
                _("%(resource)s has %(chips)s chips in service.")
                % {"resource": inventory, "chips": f"{inventory.chips_in_service:,}"},
            )
        if period is _Lookup.PERIOD:
            period = ledger.period_at(starts_at)
        cost = chips * hours * inventory.chip_type.throughput
        if (
            period is not None
            and (
                booking := _confirm_at_once(
                    actor=actor,
                    tenant=tenant,
                    inventory=inventory,
                    starts_at=starts_at,
                    hours=hours,
                    chips=chips,
                    period=period,
                    cost=cost,
                    idempotency_key=idempotency_key,
                    body_fingerprint=body_fingerprint,
                )
            )
            is not None
        ):
            return booking, True
        # The general path: it creates what is missing (ledger rows, the quota balance), and
        # decides and explains every refusal.
        with transaction.atomic():
            ledger.hold_chips(inventory=inventory, start=starts_at, hours=hours, chips=chips)
            ledger.charge_quota(tenant_id=tenant.pk, period=period, inventory=inventory, cost=cost)
            booking = _fixed_booking(
                actor=actor,
                tenant=tenant,
                inventory=inventory,
                starts_at=starts_at,
                hours=hours,
                chips=chips,
                period=period,
                cost=cost,
                idempotency_key=idempotency_key,
                body_fingerprint=body_fingerprint,
            )
            booking.save(force_insert=True)
            audit_record(
                actor=actor, action="booking.confirmed", obj=booking, tenant=tenant, after=snapshot(booking, AUDITED)
            )
    except ServiceError as refused:
        # A replay (also a retry that waited on the ledger rows its own first
        # request held and finds them full): the booking made under the key is the answer.
        if (replayed := _replay(tenant=tenant, key=idempotency_key, body_fingerprint=body_fingerprint)) is not None:
            return replayed, False
        if isinstance(refused, Conflict) and refused.field == "capacity":
            fit = ledger.earliest_fit(inventory=inventory, chips=chips, hours=hours, after=starts_at)
            refused.extra["earliest_start"] = fit.isoformat() if fit else None
            if fit:
                refused.message += " " + _("The earliest start that fits is %(start)s UTC.") % {
                    "start": f"{fit:%Y-%m-%d %H:00}"
                }
        raise
    except IntegrityError:
        # The key was used before (or by a retry racing this one): that booking is the answer.
        if (replayed := _replay(tenant=tenant, key=idempotency_key, body_fingerprint=body_fingerprint)) is not None:
            return replayed, False
        raise
    return booking, True


def _fixed_booking(
    *,
    actor: Any,
    tenant: Tenant,
    inventory: Inventory,
    starts_at: datetime,
    hours: int,
    chips: int,
    period: AllocationPeriod | None,
    cost: float,
    idempotency_key: str | None,
    body_fingerprint: str,
) -> Booking:
    """The confirmed fixed booking, unsaved: what both confirmation paths write."""
    return Booking(
        tenant=tenant,
        created_by=actor,
        kind=BookingKind.FIXED,
        status=BookingStatus.CONFIRMED,
        chips=chips,
        hours=hours,
        inventory=inventory,
        starts_at=starts_at,
        ends_at=starts_at + hours * ledger.HOUR,
        period=period,
        cost_normalized_hours=cost,
        idempotency_key=idempotency_key or None,
        request_fingerprint=body_fingerprint,
    )


def _confirm_at_once(
    *,
    actor: Any,
    tenant: Tenant,
    inventory: Inventory,
    starts_at: datetime,
    hours: int,
    chips: int,
    period: AllocationPeriod,
    cost: float,
    idempotency_key: str | None,
    body_fingerprint: str,
) -> Booking | None:
    """Confirm the booking in one SQL statement when everything is in place; None leaves it to the general path.

    Everything the general path does in a transaction of five round trips and BEGIN/COMMIT (lock the
    slot's hours, add the chips, charge the quota, insert the booking and its audit event), one PostgreSQL
    statement does at once, and a single statement is atomic by itself: it writes all of it or
    nothing. It keeps the ledger's lock order: the slot's hours are locked (in hour order) before
    the quota row, because the quota UPDATE waits on the slot's verdict. It writes nothing when a
    ledger row or the quota balance is missing, when the chips or the quota do not fit, or when the
    idempotency key was used before; then the general path runs and creates, refuses or replays.
    The CHECK constraints stand behind it as behind the general path.
    """
    if connection.vendor != "postgresql":
        return None  # data-modifying CTEs are PostgreSQL's
    booking = _fixed_booking(
        actor=actor,
        tenant=tenant,
        inventory=inventory,
        starts_at=starts_at,
        hours=hours,
        chips=chips,
        period=period,
        cost=cost,
        idempotency_key=idempotency_key,
        body_fingerprint=body_fingerprint,
    )
    event = audit_event(
        actor=actor, action="booking.confirmed", obj=booking, tenant=tenant, after=snapshot(booking, AUDITED)
    )
    booking_columns, booking_values = _insert_values(booking)
    event_columns, event_values = _insert_values(event, computed={"object_id": "CAST(b.id AS text)"})
    params = {
        "inventory": inventory.pk,
        "start": starts_at,
        "end": booking.ends_at,
        "hours": hours,
        "chips": chips,
        "tenant": tenant.pk,
        "period": period.pk,
        "cost": cost,
        "tolerance": ledger.TOLERANCE,
        **booking_values,
        **event_values,
    }
    try:
        # A savepoint only inside an outer transaction (tests, callers' atomic blocks), so that a
        # refused statement leaves it usable; on its own the statement needs no BEGIN/COMMIT.
        with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
            cursor.execute(_confirm_sql(tuple(booking_columns), tuple(event_columns)), params)
            row = cursor.fetchone()
    except IntegrityError:
        return None  # the key was used before: the general path replays (or refuses) it
    if row is None or row[0] is None:
        return None
    booking.pk = row[0]
    booking._state.adding, booking._state.db = False, connection.alias
    return booking


def _insert_values(obj: Any, computed: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(column, SQL value) pairs and parameters to insert ``obj`` as the ORM's save() would write it."""
    computed = computed or {}
    prefix = obj._meta.model_name
    columns, params = [], {}
    for field in obj._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.column in computed:
            columns.append((field.column, computed[field.column]))
            continue
        name = f"{prefix}_{field.column}"
        columns.append((field.column, f"%({name})s"))
        params[name] = field.get_db_prep_save(field.pre_save(obj, True), connection)
    return columns, params


@functools.cache
def _confirm_sql(booking_columns: tuple[tuple[str, str], ...], event_columns: tuple[tuple[str, str], ...]) -> str:
    """The statement ``_confirm_at_once`` runs; built once per process (its columns never change)."""
    quote = connection.ops.quote_name
    hours_table, quota_table = quote(ResourceHour._meta.db_table), quote(QuotaBalance._meta.db_table)

    def insert(table: str, columns: Any, source: str) -> str:
        return (
            f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c, _ in columns)}) "
            f"SELECT {', '.join(v for _, v in columns)} {source}"
        )

    return (
        # The slot's hours, locked in hour order, with their free chips.
        f"WITH slot AS MATERIALIZED (SELECT id, capacity - booked - at_risk AS free FROM {hours_table} "
        f"WHERE inventory_id = %(inventory)s AND hour >= %(start)s AND hour < %(end)s ORDER BY hour FOR UPDATE), "
        f"fits AS (SELECT count(*) = %(hours)s AND coalesce(min(free) >= %(chips)s, false) AS ok FROM slot), "
        # The grant's row (this resource's) is scanned and locked only once the slot's verdict is in, so after
        # the hours.
        f"charged AS (UPDATE {quota_table} SET used = used + %(cost)s WHERE (SELECT ok FROM fits) "
        f"AND tenant_id = %(tenant)s AND period_id = %(period)s AND inventory_id = %(inventory)s "
        f"AND used <= granted - %(cost)s + %(tolerance)s "
        f"RETURNING id), "
        f"held AS (UPDATE {hours_table} SET booked = booked + %(chips)s "
        f"WHERE EXISTS (SELECT 1 FROM charged) AND id IN (SELECT id FROM slot) RETURNING id), "
        f"b AS ({insert(Booking._meta.db_table, booking_columns, 'WHERE (SELECT count(*) FROM held) = %(hours)s')} "
        f"RETURNING id), "
        f"audit AS ({insert(AuditEvent._meta.db_table, event_columns, 'FROM b')}) "
        f"SELECT id FROM b"
    )


@_logs_refusal("flexible")
def booking_flexible_create(
    *,
    actor: Any,
    tenant: Tenant,
    eligible: list[Inventory],
    earliest_start: datetime,
    latest_end: datetime,
    hours: int,
    chips: int,
    idempotency_key: str | None = None,
) -> tuple[Booking, bool]:
    """Queue a flexible booking for the booking round; returns (booking, created)."""
    if not policies.is_member_of(actor, tenant):
        raise NotAllowed(_("Only members of the tenant may book for it."))
    tenant_require_commit(tenant)  # from the row the caller read: no query
    _validate_shape(chips=chips, hours=hours)
    _in_calendar(earliest_start, "earliest_start")
    _in_calendar(latest_end, "latest_end")
    if not eligible:
        raise ServiceError("eligible", _("Choose at least one acceptable site and chip type."))
    if latest_end <= earliest_start:
        raise ServiceError("latest_end", _("The window must end after it starts."))
    if ledger.floor_hour(latest_end) - ledger.ceil_hour(earliest_start) < hours * ledger.HOUR:
        raise ServiceError(
            "hours",
            _("A window from %(start)s to %(end)s cannot hold %(hours)s whole hours.")
            % {"start": f"{earliest_start:%Y-%m-%d %H:%M}", "end": f"{latest_end:%Y-%m-%d %H:%M}", "hours": hours},
        )
    if latest_end <= timezone.now():
        raise ServiceError("latest_end", _("That window is already over."))
    if chips > max(inv.chips_in_service for inv in eligible):
        raise ServiceError(
            "chips",
            _("No acceptable resource has that many chips in service (at most %(most)s).")
            % {"most": f"{max(inv.chips_in_service for inv in eligible):,}"},
        )
    body_fingerprint = fingerprint(
        {
            "kind": "flexible",
            "eligible": sorted(inv.pk for inv in eligible),
            "hours": hours,
            "chips": chips,
            "earliest_start": earliest_start.isoformat(),
            "latest_end": latest_end.isoformat(),
        }
    )
    if (replayed := _replay(tenant=tenant, key=idempotency_key, body_fingerprint=body_fingerprint)) is not None:
        return replayed, False
    # After the replay: a retry gets its booking back even if the grant it was checked against has been spent since.
    _placeable(
        tenant=tenant, eligible=eligible, earliest_start=earliest_start, latest_end=latest_end, hours=hours, chips=chips
    )
    try:
        with transaction.atomic():
            booking = Booking.objects.create(
                tenant=tenant,
                created_by=actor,
                kind=BookingKind.FLEXIBLE,
                status=BookingStatus.PENDING,
                chips=chips,
                hours=hours,
                earliest_start=earliest_start,
                latest_end=latest_end,
                idempotency_key=idempotency_key or None,
                request_fingerprint=body_fingerprint,
            )
            booking.eligible.set(eligible)
            audit_record(
                actor=actor, action="booking.queued", obj=booking, tenant=tenant, after=snapshot(booking, AUDITED)
            )
    except IntegrityError:
        if (replayed := _replay(tenant=tenant, key=idempotency_key, body_fingerprint=body_fingerprint)) is not None:
            return replayed, False
        raise
    return booking, True


def _placeable(
    *, tenant: Tenant, eligible: list[Inventory], earliest_start: datetime, latest_end: datetime, hours: int, chips: int
) -> None:
    """Refuse a flexible booking the booking round could never place: the round places a booking inside one
    allocation period, from the current hour on, on an eligible resource where the tenant's grant covers it."""
    periods = _periods_holding(earliest_start=earliest_start, latest_end=latest_end, hours=hours)
    closest: tuple[float, Inventory, AllocationPeriod, float] | None = None  # (short by, where, when, left)
    for period in periods:
        remaining = selectors.quota_remaining(period=period, tenant_ids=[tenant.pk])
        for inventory in eligible:
            if inventory.chips_in_service < chips or (tenant.pk, inventory.pk) not in remaining:
                continue
            cost, left = chips * hours * inventory.chip_type.throughput, remaining[(tenant.pk, inventory.pk)]
            if left >= cost - ledger.TOLERANCE:
                return
            if closest is None or cost - left < closest[0]:
                closest = (cost - left, inventory, period, left)
    if closest is None:
        raise Conflict(
            "quota",
            _("No grant of yours covers %(resource)s in %(period)s.")
            % {
                "resource": ", ".join(sorted(str(inv) for inv in eligible if inv.chips_in_service >= chips)),
                "period": ", ".join(p.name for p in periods),
            },
            code="quota",
        )
    short, inventory, period, left = closest
    raise Conflict(
        "quota",
        _("Your grant on %(resource)s in %(period)s has %(left)s normalized hours left; this booking needs %(need)s.")
        % {"resource": inventory, "period": period.name, "left": f"{left:,.1f}", "need": f"{left + short:,.1f}"},
        code="quota",
    )


def _periods_holding(*, earliest_start: datetime, latest_end: datetime, hours: int) -> list[AllocationPeriod]:
    """The allocation periods in which what is left of the window holds ``hours`` whole hours, or a refusal."""
    last_end = AllocationPeriod.objects.aggregate(last=Max("ends_at"))["last"]
    if last_end is None or latest_end > last_end:
        raise ServiceError(
            "latest_end",
            _("Allocation periods run until %(end)s; the window must end by then.")
            % {"end": f"{last_end:%Y-%m-%d %H:%M}" if last_end else "-"},
        )
    first = max(ledger.ceil_hour(earliest_start), ledger.ceil_hour(timezone.now()))
    overlapping = list(
        AllocationPeriod.objects.filter(starts_at__lt=latest_end, ends_at__gt=first).order_by("starts_at")
    )
    if not overlapping:
        raise ServiceError("earliest_start", _("No allocation period covers that window, so no grant can pay for it."))
    periods = [
        p
        for p in overlapping
        if ledger.floor_hour(min(p.ends_at, latest_end)) - max(first, ledger.ceil_hour(p.starts_at))
        >= hours * ledger.HOUR
    ]
    if not periods:
        raise ServiceError(
            "hours",
            _("No allocation period holds %(hours)s whole hours of that window; a booking is placed within one period.")
            % {"hours": hours},
        )
    return periods


def _hours_used(booking: Booking, now: datetime) -> int:
    assert booking.starts_at is not None
    if now <= booking.starts_at:
        return 0
    return min(booking.hours, math.ceil((now - booking.starts_at) / ledger.HOUR))


@transaction.atomic
def booking_cancel(*, actor: Any, booking: Booking, now: datetime | None = None) -> Booking:
    """Cancel; a started booking ends early and is charged for the hours used."""
    now = now or timezone.now()
    if booking.inventory_id is not None and booking.starts_at is not None:
        # Hours before the booking row, as maintenance locks them: the two never wait for each other in a cycle.
        ledger.slot_lock(inventory_id=booking.inventory_id, start=booking.starts_at, hours=booking.hours)
    booking = Booking.objects.select_for_update(of=("self",)).select_related("inventory__chip_type").get(pk=booking.pk)
    if not policies.is_member(actor, booking.tenant_id) and not policies.is_operator(actor):
        raise NotAllowed(_("Only the tenant's members or a site operator may cancel this booking."))
    before = snapshot(booking, AUDITED)
    was = booking.status
    booking_transition(booking, BookingStatus.CANCELLED)
    if (
        was != BookingStatus.PENDING
        and booking.inventory_id is not None
        and booking.inventory is not None
        and booking.starts_at is not None
    ):
        used = _hours_used(booking, now)
        ledger.release_chips(
            inventory_id=booking.inventory_id,
            start=booking.starts_at + used * ledger.HOUR,
            hours=booking.hours - used,
            chips=booking.chips,
            at_risk=was == BookingStatus.AT_RISK,
        )
        kept = booking.chips * used * booking.inventory.chip_type.throughput
        ledger.refund_quota(
            tenant_id=booking.tenant_id,
            period_id=booking.period_id,
            inventory_id=booking.inventory_id,
            cost=booking.cost_normalized_hours - kept,
        )
        booking.cost_normalized_hours = kept
        if used:
            booking.ends_at = booking.starts_at + used * ledger.HOUR
    booking.save(update_fields=["status", "cost_normalized_hours", "ends_at"])
    audit_record(
        actor=actor,
        action="booking.cancelled",
        obj=booking,
        tenant=booking.tenant,
        before=before,
        after=snapshot(booking, AUDITED),
    )
    return booking


def bookings_advance(*, now: datetime | None = None) -> dict[str, int]:
    """Move bookings along with the clock: start, finish, expire. Safe to run any time."""
    now = now or timezone.now()
    counts = {"active": 0, "completed": 0, "expired": 0}
    moves = (
        (Booking.objects.filter(status=BookingStatus.CONFIRMED, starts_at__lte=now), BookingStatus.ACTIVE),
        (Booking.objects.filter(status=BookingStatus.ACTIVE, ends_at__lte=now), BookingStatus.COMPLETED),
        (Booking.objects.filter(status=BookingStatus.PENDING, latest_end__lte=now), BookingStatus.EXPIRED),
    )
    for queryset, to in moves:
        for booking_id in queryset.values_list("id", flat=True):
            with transaction.atomic():
                booking = Booking.objects.select_for_update().get(pk=booking_id)
                if to not in TRANSITIONS.get(booking.status, set()):
                    continue  # another runner moved it first
                if to == BookingStatus.COMPLETED and booking.status == BookingStatus.CONFIRMED:
                    continue
                before = snapshot(booking, AUDITED)
                booking_transition(booking, to)
                booking.save(update_fields=["status"])
                audit_record(
                    actor=None,
                    action=f"booking.{to}",
                    obj=booking,
                    tenant=booking.tenant,
                    before=before,
                    after=snapshot(booking, AUDITED),
                )
                counts[str(to)] += 1
                if to == BookingStatus.EXPIRED:
                    tenant_notify(
                        tenant_id=booking.tenant_id,
                        subject=_("Booking %(id)s expired") % {"id": booking.pk},
                        body=_("Its window ended before the booking round could place it."),
                    )
    return counts
