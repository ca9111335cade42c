"""Maintenance, chips in service and the bookings they put at risk: the one way in for operators.

Invariants:
- every change to what a resource has in service (a maintenance window announced,
  changed, ended or cancelled; chips in service or installed changed) sets the
  ledger's capacity of the hours it touches from the inventory and *all* its
  windows (``ledger.capacity_by_hour``), up or down, in the transaction that
  makes the change; the admin, the pages, the API, commands and tasks all come here;
- maintenance always goes in: when capacity falls below the chips confirmed
  bookings hold, the latest-submitted of those bookings are flagged ``at_risk``
  (their chips move from ``booked`` to ``at_risk`` in the ledger) until every
  hour fits again, and their tenants are told; the site is never silently
  overbooked and never silently loses a booking;
- an at-risk booking is re-confirmed (once its chips are back), moved (to
  another start or resource of its chip type, through the ledger as a new
  booking would be) or cancelled, by an operator; its tenant is told each time;
- locks are taken in the ledger's global order (hours by inventory then hour,
  then quota; see ``services.ledger``); booking rows only after the hours, so a
  maintenance waits for racing bookings (or they for it) and never overbooks;
- every change writes one audit event; only operators (or platform admins) act.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from allocation import policies, validators
from allocation.models import (
    AllocationPeriod,
    Booking,
    BookingStatus,
    ChipType,
    Gigafactory,
    Inventory,
    MaintenanceWindow,
    ResourceHour,
)
from allocation.services import ledger
from allocation.services.audit import audit_record, snapshot
from allocation.services.bookings import AUDITED, booking_cancel, booking_transition
from allocation.services.errors import Conflict, NotAllowed, ServiceError
from allocation.services.notifications import tenant_notify, tenants_notify

logger = logging.getLogger(__name__)

# A window is entered hour by hour into the ledger: a year of hours is the most one takes.
MAX_WINDOW = timedelta(days=366)
WINDOW_FIELDS = ["inventory", "chips", "starts_at", "ends_at", "reason"]
INVENTORY_FIELDS = ["gigafactory", "chip_type", "chips_installed", "chips_in_service"]
HOLDING = (BookingStatus.CONFIRMED, BookingStatus.ACTIVE)


def _operator_only(actor: Any) -> None:
    if not policies.is_operator(actor):
        raise NotAllowed(_("Only site operators change maintenance, resources and bookings at risk."))


# Capacity from the inventory and every window, and the bookings that no longer fit.


def _span(start: datetime, end: datetime) -> tuple[datetime, int]:
    first = ledger.floor_hour(start)
    return first, max(1, math.ceil((end - first) / ledger.HOUR))


def _covers(booking: Booking, hour: datetime) -> bool:
    assert booking.starts_at is not None and booking.ends_at is not None
    return booking.starts_at <= hour < booking.ends_at


def ledger_refit(*, inventory: Inventory, start: datetime, end: datetime, now: datetime | None = None) -> list[Booking]:
    """Set every ledger hour in [start, end) from the current hour on to the chips in service it has now;
    returns the bookings put at risk. Hours gone by keep their figures: they are history.

    Runs in the caller's transaction, after the caller saved the window or inventory change. The
    hours of every booking that holds chips in the span are locked with it (hour order), so the
    bookings moved to ``at_risk`` are moved for their whole slot under the lock.
    """
    start = max(start, ledger.floor_hour(now or timezone.now()))
    if end <= start:
        return []
    first, hours = _span(start, end)
    # Chips in service as this transaction sees them; site and chip type for the tenants' messages.
    inventory = Inventory.objects.select_related("gigafactory", "chip_type").get(pk=inventory.pk)
    holding = Booking.objects.filter(
        inventory=inventory, status__in=HOLDING, starts_at__lt=first + hours * ledger.HOUR, ends_at__gt=first
    )
    bounds = [(s, e) for s, e in holding.values_list("starts_at", "ends_at") if s is not None and e is not None]
    lock_from = min([first, *(begin for begin, _end in bounds)])
    lock_to = max([first + hours * ledger.HOUR, *(end_ for _begin, end_ in bounds)])
    rows = ledger.hours_locked(inventory=inventory, start=lock_from, hours=int((lock_to - lock_from) / ledger.HOUR))
    fresh = ledger.capacity_by_hour(inventory=inventory, start=first, hours=hours)
    booked = {hour: chips for _pk, hour, _cap, chips in rows}
    # Read again under the hours' lock: a booking that committed while this waited is counted.
    holders = list(holding.select_for_update(of=("self",)).select_related("tenant").order_by("-submitted_at", "-pk"))
    displaced: list[Booking] = []
    chosen: set[int] = set()
    for hour in sorted(fresh):
        for booking in holders:
            if booked.get(hour, 0) <= fresh[hour]:
                break
            if booking.pk in chosen or not _covers(booking, hour):
                continue
            booking.inventory = inventory  # loaded once, for the tenants' messages
            chosen.add(booking.pk)
            displaced.append(booking)
            for h in ledger.hour_range(booking.starts_at, booking.hours):  # type: ignore[arg-type]
                booked[h] = booked.get(h, 0) - booking.chips
    for booking in displaced:
        _flag_at_risk(booking)
    ledger.capacity_set(
        capacity_by_row={pk: fresh[hour] for pk, hour, cap, _booked in rows if hour in fresh and cap != fresh[hour]}
    )
    _tell_at_risk(displaced)
    if displaced:
        ids = [b.pk for b in displaced]
        logger.warning(
            "resource %s: %s bookings put at risk (ids %s, tenants %s)",
            inventory.pk,
            len(ids),
            ids,
            sorted({b.tenant_id for b in displaced}),
            extra={
                "resource_id": inventory.pk,
                "booking_ids": ids,
                "tenant_ids": sorted({b.tenant_id for b in displaced}),
            },
        )
    return displaced


def _flag_at_risk(booking: Booking) -> None:
    before = snapshot(booking, AUDITED)
    booking_transition(booking, BookingStatus.AT_RISK)
    booking.save(update_fields=["status"])
    assert booking.starts_at is not None and booking.inventory_id is not None
    ledger.chips_to_at_risk(
        inventory_id=booking.inventory_id, start=booking.starts_at, hours=booking.hours, chips=booking.chips
    )
    audit_record(
        actor=None,
        action="booking.at_risk",
        obj=booking,
        tenant=booking.tenant,
        before=before,
        after=snapshot(booking, AUDITED),
    )


def _tell_at_risk(displaced: list[Booking]) -> None:
    """One message per tenant listing its bookings the change put at risk."""
    by_tenant: dict[int, list[Booking]] = {}
    for booking in sorted(displaced, key=lambda b: b.pk):
        by_tenant.setdefault(booking.tenant_id, []).append(booking)
    messages = {}
    for tenant_id, bookings in by_tenant.items():
        subject = (
            _("Booking %(id)s is at risk") % {"id": bookings[0].pk}
            if len(bookings) == 1
            else _("%(count)s bookings are at risk") % {"count": len(bookings)}
        )
        lines = [
            _("Booking %(id)s: %(chips)s chips on %(resource)s from %(start)s UTC for %(hours)s h.")
            % {
                "id": b.pk,
                "chips": b.chips,
                "resource": b.inventory,
                "start": f"{b.starts_at:%Y-%m-%d %H:00}",
                "hours": b.hours,
            }
            for b in bookings
        ]
        messages[tenant_id] = (
            subject,
            _(
                "Maintenance takes chips these bookings hold. A site operator will "
                "re-confirm, move or cancel them and tell you."
            )
            + "\n"
            + "\n".join(lines),
        )
    tenants_notify(messages=messages)


# Maintenance windows.


def _valid_window(*, inventory: Inventory, chips: Any, starts_at: datetime, ends_at: datetime) -> None:
    if not isinstance(chips, int) or isinstance(chips, bool) or chips <= 0:
        raise ServiceError("chips", _("Take a whole, positive number of chips out of service."))
    if chips > inventory.chips_installed:
        raise ServiceError(
            "chips",
            _("%(resource)s has only %(installed)s chips installed.")
            % {"resource": inventory, "installed": f"{inventory.chips_installed:,}"},
        )
    for field, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
        if (outside := validators.moment_error(moment)) is not None:  # the admin's forms do not check it
            raise ServiceError(field, outside)
    if ends_at <= starts_at:
        raise ServiceError("ends_at", _("Maintenance must end after it starts."))
    if ends_at - starts_at > MAX_WINDOW:
        raise ServiceError(
            "ends_at",
            _("One maintenance window lasts at most %(days)s days; announce another for the rest.")
            % {"days": MAX_WINDOW.days},
        )


def _window_after(window: MaintenanceWindow) -> dict[str, Any]:
    return snapshot(window, WINDOW_FIELDS)


@transaction.atomic
def maintenance_announce(
    *,
    actor: Any,
    inventory: Inventory,
    chips: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
    now: datetime | None = None,
) -> tuple[MaintenanceWindow, list[Booking]]:
    """Take chips out of service for a while; returns the window and the bookings it put at risk."""
    _operator_only(actor)
    _valid_window(inventory=inventory, chips=chips, starts_at=starts_at, ends_at=ends_at)
    if ends_at <= (now or timezone.now()):
        raise ServiceError("ends_at", _("That time is over; announce maintenance that has not ended yet."))
    window = MaintenanceWindow.objects.create(
        inventory=inventory, chips=chips, starts_at=starts_at, ends_at=ends_at, reason=reason
    )
    displaced = ledger_refit(inventory=inventory, start=starts_at, end=ends_at, now=now)
    audit_record(
        actor=actor,
        action="maintenance.announced",
        obj=window,
        after={**_window_after(window), "at_risk": [b.pk for b in displaced]},
    )
    _window_log("announced", window, displaced)
    return window, displaced


def _window_log(what: str, window: MaintenanceWindow, displaced: list[Booking]) -> None:
    logger.info(
        "maintenance window %s %s: resource %s, %s chips from %s to %s, %s bookings put at risk",
        window.pk,
        what,
        window.inventory_id,
        window.chips,
        f"{window.starts_at:%Y-%m-%d %H:%M}",
        f"{window.ends_at:%Y-%m-%d %H:%M}",
        len(displaced),
        extra={
            "window_id": window.pk,
            "resource_id": window.inventory_id,
            "chips": window.chips,
            "starts_at": window.starts_at,
            "ends_at": window.ends_at,
            "at_risk": len(displaced),
        },
    )


def _locked_window(window: MaintenanceWindow, now: datetime) -> MaintenanceWindow:
    locked = MaintenanceWindow.objects.select_for_update().select_related("inventory").filter(pk=window.pk).first()
    if locked is None:
        raise Conflict("window", _("That maintenance window no longer exists."), code="gone")
    if locked.ends_at <= now:
        raise Conflict("window", _("That maintenance is over; it can no longer change."), code="over")
    return locked


@transaction.atomic
def maintenance_change(
    *,
    actor: Any,
    window: MaintenanceWindow,
    chips: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> tuple[MaintenanceWindow, list[Booking]]:
    """Change a window's chips, times or reason; capacity is set again over the old and the new hours."""
    _operator_only(actor)
    now = now or timezone.now()
    window = _locked_window(window, now)
    before = _window_after(window)
    old_start, old_end = window.starts_at, window.ends_at
    window.chips = window.chips if chips is None else chips
    window.starts_at = window.starts_at if starts_at is None else starts_at
    window.ends_at = window.ends_at if ends_at is None else ends_at
    window.reason = window.reason if reason is None else reason
    _valid_window(inventory=window.inventory, chips=window.chips, starts_at=window.starts_at, ends_at=window.ends_at)
    if window.ends_at <= now:
        raise ServiceError("ends_at", _("To stop maintenance now, end it; a change must leave it running."))
    window.save(update_fields=["chips", "starts_at", "ends_at", "reason"])
    displaced = ledger_refit(
        inventory=window.inventory, start=min(old_start, window.starts_at), end=max(old_end, window.ends_at), now=now
    )
    audit_record(
        actor=actor,
        action="maintenance.changed",
        obj=window,
        before=before,
        after={**_window_after(window), "at_risk": [b.pk for b in displaced]},
    )
    _window_log("changed", window, displaced)
    return window, displaced


@transaction.atomic
def maintenance_end(*, actor: Any, window: MaintenanceWindow, now: datetime | None = None) -> MaintenanceWindow:
    """End maintenance now: the chips come back from this moment on; one not yet started is cancelled.

    A cancelled window is deleted (its ``pk`` is then None); either way the audit trail keeps it.
    """
    _operator_only(actor)
    now = now or timezone.now()
    window = _locked_window(window, now)
    if window.starts_at >= now:
        return _cancel(actor=actor, window=window)
    before = _window_after(window)
    old_end, window.ends_at = window.ends_at, now
    window.save(update_fields=["ends_at"])
    ledger_refit(inventory=window.inventory, start=window.starts_at, end=old_end, now=now)
    audit_record(actor=actor, action="maintenance.ended", obj=window, before=before, after=_window_after(window))
    return window


@transaction.atomic
def maintenance_cancel(*, actor: Any, window: MaintenanceWindow) -> MaintenanceWindow:
    """Call maintenance off entirely (also one that started): every hour it took gets its chips back."""
    _operator_only(actor)
    locked = MaintenanceWindow.objects.select_for_update().select_related("inventory").filter(pk=window.pk).first()
    if locked is None:
        raise Conflict("window", _("That maintenance window no longer exists."), code="gone")
    return _cancel(actor=actor, window=locked)


def _cancel(*, actor: Any, window: MaintenanceWindow) -> MaintenanceWindow:
    before, pk = _window_after(window), window.pk
    window.delete()
    ledger_refit(inventory=window.inventory, start=window.starts_at, end=window.ends_at)
    window.pk = pk  # for the audit event's object id
    audit_record(actor=actor, action="maintenance.cancelled", obj=window, before=before)
    window.pk = None
    return window


# Resources: chips installed and in service.


def _valid_chips(*, chips_installed: Any, chips_in_service: Any) -> None:
    for field, value in (("chips_installed", chips_installed), ("chips_in_service", chips_in_service)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ServiceError(field, _("Give a whole number of chips, 0 or more."))
    if chips_in_service > chips_installed:
        raise ServiceError(
            "chips_in_service",
            _("At most the %(installed)s chips installed can be in service.") % {"installed": f"{chips_installed:,}"},
        )


@transaction.atomic
def inventory_add(
    *,
    actor: Any,
    gigafactory: Gigafactory,
    chip_type: ChipType,
    chips_installed: int,
    chips_in_service: int,
) -> Inventory:
    """A new resource: a chip type at a site. It has no ledger yet; its first booking creates one."""
    _operator_only(actor)
    _valid_chips(chips_installed=chips_installed, chips_in_service=chips_in_service)
    if Inventory.objects.filter(gigafactory=gigafactory, chip_type=chip_type).exists():
        raise ServiceError(
            "chip_type",
            _("%(site)s already has %(chip)s; change that resource instead.")
            % {"site": gigafactory, "chip": chip_type},
        )
    inventory = Inventory.objects.create(
        gigafactory=gigafactory, chip_type=chip_type, chips_installed=chips_installed, chips_in_service=chips_in_service
    )
    audit_record(actor=actor, action="inventory.added", obj=inventory, after=snapshot(inventory, INVENTORY_FIELDS))
    return inventory


@transaction.atomic
def inventory_chips_set(
    *,
    actor: Any,
    inventory: Inventory,
    chips_installed: int | None = None,
    chips_in_service: int | None = None,
    now: datetime | None = None,
) -> tuple[Inventory, list[Booking]]:
    """Change a resource's chips installed or in service; the ledger follows from the current hour on."""
    _operator_only(actor)
    now = now or timezone.now()
    inventory = Inventory.objects.select_for_update().select_related("gigafactory", "chip_type").get(pk=inventory.pk)
    before = snapshot(inventory, INVENTORY_FIELDS)
    inventory.chips_installed = inventory.chips_installed if chips_installed is None else chips_installed
    inventory.chips_in_service = inventory.chips_in_service if chips_in_service is None else chips_in_service
    _valid_chips(chips_installed=inventory.chips_installed, chips_in_service=inventory.chips_in_service)
    inventory.save(update_fields=["chips_installed", "chips_in_service"])
    displaced: list[Booking] = []
    start, end = ledger.floor_hour(now), _ledger_end(inventory, now)
    if end > start:
        displaced = ledger_refit(inventory=inventory, start=start, end=end, now=now)
    audit_record(
        actor=actor,
        action="inventory.changed",
        obj=inventory,
        before=before,
        after={**snapshot(inventory, INVENTORY_FIELDS), "at_risk": [b.pk for b in displaced]},
    )
    return inventory, displaced


def _ledger_end(inventory: Inventory, now: datetime) -> datetime:
    """The end of the hours to set again: the last ledger row, and the last allocation period not over.

    The periods too, so a booking that read the old figure before this commits and creates
    its period's rows afterwards finds them made (it never inserts a stale capacity).
    """
    ends = [now]
    last_row = ResourceHour.objects.filter(inventory=inventory).aggregate(last=Max("hour"))["last"]
    if last_row is not None:
        ends.append(last_row + ledger.HOUR)
    last_period = AllocationPeriod.objects.filter(ends_at__gt=now).aggregate(last=Max("ends_at"))["last"]
    if last_period is not None:
        ends.append(ledger.floor_hour(last_period))
    return min(max(ends), now + MAX_WINDOW * 2)


# Bookings at risk: re-confirm, move, cancel.


def _locked_at_risk(booking: Booking) -> Booking:
    """The booking locked after its hours (the ledger's order), still at risk in the same slot."""
    assert booking.inventory is not None and booking.starts_at is not None
    ledger.hours_locked(inventory=booking.inventory, start=booking.starts_at, hours=booking.hours)
    locked = (
        Booking.objects.select_for_update(of=("self",))
        .select_related("tenant", "inventory__chip_type", "inventory__gigafactory")
        .get(pk=booking.pk)
    )
    if locked.status != BookingStatus.AT_RISK:
        raise Conflict("status", _("Booking %(id)s is no longer at risk.") % {"id": booking.pk}, code="not_at_risk")
    if (locked.inventory_id, locked.starts_at) != (booking.inventory_id, booking.starts_at):
        raise Conflict(
            "status", _("Booking %(id)s changed meanwhile; look again.") % {"id": booking.pk}, code="changed"
        )
    return locked


def _at_risk(booking: Booking) -> Booking:
    fresh = Booking.objects.select_related("inventory__chip_type", "inventory__gigafactory").get(pk=booking.pk)
    if fresh.status != BookingStatus.AT_RISK:
        raise ServiceError(
            "status",
            _("Only a booking at risk can be re-confirmed or moved here; booking %(id)s is %(status)s.")
            % {"id": fresh.pk, "status": fresh.get_status_display().lower()},
            code="not_at_risk",
        )
    return fresh


@transaction.atomic
def booking_at_risk_resolve(*, actor: Any, booking: Booking, now: datetime | None = None) -> Booking:
    """Re-confirm an at-risk booking where it is, once its chips are back in service.

    Refused (``Conflict`` on ``capacity``) while any of its hours is still short;
    the other ways out are ``booking_at_risk_move`` and ``booking_at_risk_cancel``.
    """
    _operator_only(actor)
    booking = _locked_at_risk(_at_risk(booking))
    before = snapshot(booking, AUDITED)
    started = booking.starts_at is not None and booking.starts_at <= (now or timezone.now())
    booking_transition(booking, BookingStatus.ACTIVE if started else BookingStatus.CONFIRMED)
    assert booking.inventory_id is not None and booking.starts_at is not None
    ledger.restore_at_risk(
        inventory_id=booking.inventory_id, start=booking.starts_at, hours=booking.hours, chips=booking.chips
    )
    booking.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="booking.resolved",
        obj=booking,
        tenant=booking.tenant,
        before=before,
        after=snapshot(booking, AUDITED),
    )
    tenant_notify(
        tenant_id=booking.tenant_id,
        subject=_("Booking %(id)s is confirmed again") % {"id": booking.pk},
        body=_("The chips it holds on %(resource)s from %(start)s UTC are back in service.")
        % {"resource": booking.inventory, "start": f"{booking.starts_at:%Y-%m-%d %H:00}"},
    )
    return booking


@transaction.atomic
def booking_at_risk_move(
    *,
    actor: Any,
    booking: Booking,
    inventory: Inventory | None = None,
    starts_at: datetime | None = None,
    now: datetime | None = None,
) -> Booking:
    """Move an at-risk booking to another start, or another resource of its chip type, and confirm it there.

    Through the ledger as a new booking: its old hours and quota are given back, the new hours
    must fit and the quota in force for the new start pays; refused with ``Conflict`` otherwise,
    changing nothing.
    """
    _operator_only(actor)
    now = now or timezone.now()
    booking = _at_risk(booking)
    assert booking.inventory is not None and booking.starts_at is not None
    target = booking.inventory if inventory is None else inventory
    start = booking.starts_at if starts_at is None else starts_at
    _valid_move(booking, target, start, now)
    ledger.slots_locked(slots=[(booking.inventory, booking.starts_at, booking.hours), (target, start, booking.hours)])
    booking = _locked_at_risk(booking)
    assert booking.inventory_id is not None and booking.starts_at is not None
    before = snapshot(booking, AUDITED)
    ledger.release_chips(
        inventory_id=booking.inventory_id,
        start=booking.starts_at,
        hours=booking.hours,
        chips=booking.chips,
        at_risk=True,
    )
    ledger.refund_quota(
        tenant_id=booking.tenant_id,
        period_id=booking.period_id,
        inventory_id=booking.inventory_id,
        cost=booking.cost_normalized_hours,
    )
    ledger.hold_chips(inventory=target, start=start, hours=booking.hours, chips=booking.chips)
    period = ledger.period_at(start)
    cost = booking.chips * booking.hours * target.chip_type.throughput
    ledger.charge_quota(tenant_id=booking.tenant_id, period=period, inventory=target, cost=cost)
    booking_transition(booking, BookingStatus.CONFIRMED)
    booking.inventory, booking.starts_at, booking.ends_at = target, start, start + booking.hours * ledger.HOUR
    booking.period, booking.cost_normalized_hours = period, cost
    booking.save(update_fields=["status", "inventory", "starts_at", "ends_at", "period", "cost_normalized_hours"])
    audit_record(
        actor=actor,
        action="booking.moved",
        obj=booking,
        tenant=booking.tenant,
        before=before,
        after=snapshot(booking, AUDITED),
    )
    tenant_notify(
        tenant_id=booking.tenant_id,
        subject=_("Booking %(id)s was moved") % {"id": booking.pk},
        body=_(
            "Maintenance took chips it held. It is confirmed again: %(chips)s chips on %(resource)s "
            "from %(start)s UTC for %(hours)s h."
        )
        % {"chips": booking.chips, "resource": target, "start": f"{start:%Y-%m-%d %H:00}", "hours": booking.hours},
    )
    return booking


def _valid_move(booking: Booking, target: Inventory, start: datetime, now: datetime) -> None:
    assert booking.inventory is not None
    if target.chip_type_id != booking.inventory.chip_type_id:
        raise ServiceError(
            "resource",
            _("Move a booking only to a resource of its chip type (%(chip)s).") % {"chip": booking.inventory.chip_type},
        )
    if (outside := validators.moment_error(start)) is not None:
        raise ServiceError("starts_at", outside)
    if start.minute or start.second or start.microsecond:
        raise ServiceError("starts_at", _("Bookings start on the hour (UTC), e.g. 2027-01-08T09:00:00Z."))
    if start < ledger.floor_hour(now):
        raise ServiceError("starts_at", _("That hour has passed; move the booking to the current hour or later."))
    if booking.starts_at is not None and booking.starts_at <= now:
        raise ServiceError(
            "starts_at", _("Booking %(id)s has started; re-confirm or cancel it instead.") % {"id": booking.pk}
        )
    if (target.pk, start) == (booking.inventory_id, booking.starts_at):
        raise ServiceError("starts_at", _("Give another start or resource; to keep this slot, re-confirm it."))


@transaction.atomic
def booking_at_risk_cancel(*, actor: Any, booking: Booking, now: datetime | None = None) -> Booking:
    """Cancel an at-risk booking (chips and quota go back) and tell its tenant why."""
    _operator_only(actor)
    booking = _at_risk(booking)
    assert booking.inventory is not None and booking.starts_at is not None
    ledger.hours_locked(inventory=booking.inventory, start=booking.starts_at, hours=booking.hours)
    booking = booking_cancel(actor=actor, booking=booking, now=now)
    tenant_notify(
        tenant_id=booking.tenant_id,
        subject=_("Booking %(id)s was cancelled") % {"id": booking.pk},
        body=_(
            "Maintenance on %(resource)s took chips it held and no other slot was found. "
            "Its unused quota was given back."
        )
        % {"resource": booking.inventory},
    )
    return booking
