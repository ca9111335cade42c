"""Usage records: what bookings used, as sites report it, and the corrections operators make.

Usage drives the fair-share factor, so it moves everyone's priority; nothing is accepted unchecked.

Invariants:
- only site operators (or platform admins) report or adjust usage;
- a record is stored only for a booking that started (never for a pending or
  expired one, or one cancelled before its start), of a tenant that may have
  usage recorded (``policies.tenant_may_commit``), dated inside the booking's
  window give or take ``settings.USAGE_WINDOW_TOLERANCE_HOURS`` and no later
  than that after now;
- a booking's recorded GPU-hours (reports and adjustments) never exceed its
  chips x the hours it ran; the booking rows are locked (in id order) before
  the stored totals are read, so concurrent batches cannot exceed it together;
- a record id is stored once: a batch re-sent after a timeout creates nothing
  new, and a different figure under a known id is refused;
- a correction is an explicit adjustment: its own record id, the reported
  record it corrects, a signed amount and a reason; a record plus its
  adjustments never drops below zero;
- every stored record writes one audit event (bulk-inserted with the records);
- a refused record comes back with its index, id, field, code and reason, and
  the rest of the batch is kept.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from allocation import policies
from allocation.models import AuditEvent, Booking, BookingStatus, UsageRecord
from allocation.services import ledger
from allocation.services.audit import audit_event
from allocation.services.errors import NotAllowed

T = TypeVar("T")
logger = logging.getLogger(__name__)

# Float sums of many records: a total equal to the limit up to rounding is at the limit.
RELATIVE_SLACK = 1e-9
MAX_REASON = 500


@dataclass(frozen=True)
class Refusal:
    index: int  # position in the batch
    record_id: str
    field: str  # the record's field at fault
    code: str
    message: str


@dataclass
class UsageOutcome:
    created: int = 0
    already_reported: int = 0
    refused: list[Refusal] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "already_reported": self.already_reported,
            "refused": [asdict(r) for r in self.refused],
        }


class _Refused(Exception):
    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


def _limit(booking: Booking) -> float:
    """The GPU-hours a booking can have used: its chips for the hours it ran (a cancelled one ran until then)."""
    assert booking.starts_at is not None and booking.ends_at is not None
    return booking.chips * (booking.ends_at - booking.starts_at) / ledger.HOUR


def _check_started(booking: Booking, now: datetime) -> None:
    """Refuse usage for a booking that never ran."""
    never = (
        booking.inventory_id is None
        or booking.starts_at is None
        or booking.ends_at is None
        or booking.status in (BookingStatus.PENDING, BookingStatus.EXPIRED)
    )
    if never:
        raise _Refused(
            "booking", "not_started", _("Booking %(id)s was never placed, so it used nothing.") % {"id": booking.pk}
        )
    if booking.status == BookingStatus.CANCELLED and booking.cost_normalized_hours == 0:
        # booking_cancel keeps the cost of the hours a booking ran: none means it never started.
        raise _Refused(
            "booking",
            "not_started",
            _("Booking %(id)s was cancelled before it started, so it used nothing.") % {"id": booking.pk},
        )
    assert booking.starts_at is not None
    if booking.starts_at > now:
        raise _Refused(
            "booking",
            "not_started",
            _("Booking %(id)s has not started yet (it starts %(start)s UTC).")
            % {"id": booking.pk, "start": f"{booking.starts_at:%Y-%m-%d %H:%M}"},
        )


def _check_tenant(booking: Booking) -> None:
    if not policies.tenant_may_commit(booking.tenant):
        raise _Refused("booking", "tenant_status", policies.tenant_refusal(booking.tenant))


def _check_at(booking: Booking, at: Any, now: datetime) -> None:
    """The record is dated inside the booking's window, give or take the tolerance, and not in the future."""
    if not isinstance(at, datetime) or timezone.is_naive(at):
        raise _Refused("at", "invalid", _("Give the time of the usage in UTC, e.g. 2027-01-08T19:00:00Z."))
    assert booking.starts_at is not None and booking.ends_at is not None
    tolerance = timedelta(hours=settings.USAGE_WINDOW_TOLERANCE_HOURS)
    if not booking.starts_at - tolerance <= at <= booking.ends_at + tolerance:
        raise _Refused(
            "at",
            "outside_window",
            _(
                "%(at)s UTC is outside booking %(id)s, which ran from %(start)s to %(end)s UTC (give or take "
                "%(tolerance)s h)."
            )
            % {
                "at": f"{at:%Y-%m-%d %H:%M}",
                "id": booking.pk,
                "start": f"{booking.starts_at:%Y-%m-%d %H:%M}",
                "end": f"{booking.ends_at:%Y-%m-%d %H:%M}",
                "tolerance": f"{settings.USAGE_WINDOW_TOLERANCE_HOURS:g}",
            },
        )
    if at > now + tolerance:
        raise _Refused(
            "at",
            "in_future",
            _("%(at)s UTC is in the future; report usage once it happened.") % {"at": f"{at:%Y-%m-%d %H:%M}"},
        )


def _gpu_hours(value: Any, *, signed: bool) -> float:
    try:
        hours = float(value)
    except (TypeError, ValueError, OverflowError):
        hours = math.nan
    if not math.isfinite(hours) or (hours < 0 and not signed) or (hours == 0 and signed):
        message = (
            _("An adjustment is a finite, non-zero number of GPU-hours (negative to reduce).")
            if signed
            else _("gpu_hours must be a finite number of at least 0.")
        )
        raise _Refused("gpu_hours", "invalid", message)
    return hours


def _check_limit(booking: Booking, recorded: float, adding: float) -> None:
    limit = _limit(booking)
    if adding > 0 and recorded + adding > limit * (1 + RELATIVE_SLACK):
        raise _Refused(
            "gpu_hours",
            "over_booking",
            _(
                "Booking %(id)s holds %(limit)s GPU-hours (%(chips)s chips for %(hours)s h) and %(recorded)s are "
                "recorded already: %(adding)s more would exceed it."
            )
            % {
                "id": booking.pk,
                "limit": f"{limit:,.2f}",
                "chips": f"{booking.chips:,}",
                "hours": f"{limit / booking.chips:g}",
                "recorded": f"{recorded:,.2f}",
                "adding": f"{adding:,.2f}",
            },
        )


def _locked_bookings(booking_ids: Iterable[Any]) -> dict[int, Booking]:
    """The bookings, locked in id order (two batches never wait on each other crosswise)."""
    ids = sorted({pk for pk in booking_ids if isinstance(pk, int) and not isinstance(pk, bool)})
    rows = (
        Booking.objects.select_for_update(of=("self",))
        .select_related("tenant", "inventory__chip_type")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    return {b.pk: b for b in rows}


def _recorded(booking_ids: Iterable[int]) -> dict[int, float]:
    """GPU-hours stored per booking (reports and adjustments); read after the bookings are locked."""
    rows = (
        UsageRecord.objects.filter(booking_id__in=list(booking_ids))
        .values("booking_id")
        .annotate(total=Sum("gpu_hours"))
        .order_by()
        .values_list("booking_id", "total")
    )
    return {booking_id: total or 0.0 for booking_id, total in rows}


def _store(records: list[UsageRecord], events: list[AuditEvent]) -> None:
    """Insert the records, then their audit events (which name the records' new ids)."""
    UsageRecord.objects.bulk_create(records, batch_size=1000)
    for event, record in zip(events, records, strict=True):
        event.object_id = str(record.pk)
    AuditEvent.objects.bulk_create(events, batch_size=1000)


def _retrying(write: Callable[[], UsageOutcome]) -> UsageOutcome:
    """Run ``write`` in a transaction; once more if another batch stored one of its record ids meanwhile
    (the ids are unique, and only the bookings are locked): the second run finds them known."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        with transaction.atomic():
            return write()


def _require_operator(actor: Any) -> None:
    if not policies.is_operator(actor):
        raise NotAllowed(_("Only site operators report usage."))


def usage_records_report(*, actor: Any, records: list[dict[str, Any]], now: datetime | None = None) -> UsageOutcome:
    """Store a batch of usage reports (record_id, booking, at, gpu_hours); each record id is stored once.

    Each record is stored or refused on its own; the outcome counts the stored and the known ones and
    lists the refused ones with the reason.
    """
    _require_operator(actor)
    now = now or timezone.now()
    return _outcome_log("report", _retrying(lambda: _report(actor=actor, records=records, now=now)))


def _report(*, actor: Any, records: list[dict[str, Any]], now: datetime) -> UsageOutcome:
    bookings = _locked_bookings(r.get("booking") for r in records)
    ids = [str(r.get("record_id", "")) for r in records]
    known = {u.record_id: u for u in UsageRecord.objects.filter(record_id__in=ids)}
    recorded = _recorded(bookings)
    outcome, new = _sort_batch(
        ids,
        records,
        known,
        _check_same,
        lambda record_id, record: _new_report(
            actor=actor, record_id=record_id, record=record, bookings=bookings, recorded=recorded, now=now
        ),
    )
    events = [
        audit_event(
            actor=actor, action="usage.reported", obj=stored, tenant=stored.booking.tenant, after=_snapshot(stored)
        )
        for stored in new
    ]
    _store(new, events)
    outcome.created = len(new)
    return outcome


def _sort_batch(
    ids: list[str],
    items: list[dict[str, Any]],
    known: dict[str, UsageRecord],
    check_same: Callable[[UsageRecord, dict[str, Any]], None],
    make: Callable[[str, dict[str, Any]], T],
) -> tuple[UsageOutcome, list[T]]:
    """Each item of a batch, in order: a second one under an id is refused, a known id is counted
    when its figures are the same (``check_same`` refuses it otherwise), a new one is ``make``'s,
    which may refuse it; the outcome lists every refusal with its index."""
    outcome, made, seen = UsageOutcome(), [], set()
    for index, (record_id, item) in enumerate(zip(ids, items, strict=True)):
        try:
            if record_id in seen:
                raise _Refused(
                    "record_id", "duplicate", _("Record %(id)s is listed twice in this batch.") % {"id": record_id}
                )
            seen.add(record_id)
            if (existing := known.get(record_id)) is not None:
                check_same(existing, item)
                outcome.already_reported += 1
                continue
            made.append(make(record_id, item))
        except _Refused as refused:
            outcome.refused.append(Refusal(index, record_id, refused.field, refused.code, refused.message))
    return outcome, made


def _check_same(existing: UsageRecord, record: dict[str, Any]) -> None:
    same = (
        existing.corrects_id is None
        and existing.booking_id == record.get("booking")
        and existing.at == record.get("at")
        and math.isclose(existing.gpu_hours, _gpu_hours(record.get("gpu_hours"), signed=False))
    )
    if not same:
        raise _Refused(
            "record_id",
            "conflict",
            _("Record %(id)s was already reported with other figures; correct it with an adjustment.")
            % {"id": existing.record_id},
        )


def _new_report(
    *,
    actor: Any,
    record_id: str,
    record: dict[str, Any],
    bookings: dict[int, Booking],
    recorded: dict[int, float],
    now: datetime,
) -> UsageRecord:
    """The record to store, checked against its booking (whose running total it adds to); or ``_Refused``."""
    if not record_id.strip():
        raise _Refused("record_id", "invalid", _("Give the record the site's own id."))
    booking = bookings.get(record.get("booking"))  # type: ignore[arg-type]
    if booking is None:
        raise _Refused("booking", "not_found", _("Booking %(id)s does not exist.") % {"id": record.get("booking")})
    _check_tenant(booking)
    _check_started(booking, now)
    _check_at(booking, record.get("at"), now)
    gpu_hours = _gpu_hours(record.get("gpu_hours"), signed=False)
    _check_limit(booking, recorded.get(booking.pk, 0.0), gpu_hours)
    recorded[booking.pk] = recorded.get(booking.pk, 0.0) + gpu_hours
    assert booking.inventory is not None
    return UsageRecord(
        record_id=record_id,
        booking=booking,
        tenant_id=booking.tenant_id,
        reported_by=actor,
        at=record["at"],
        gpu_hours=gpu_hours,
        normalized_hours=gpu_hours * booking.inventory.chip_type.throughput,
    )


def _snapshot(record: UsageRecord) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "booking": record.booking_id,
        "at": record.at.isoformat(),
        "gpu_hours": record.gpu_hours,
        "normalized_hours": record.normalized_hours,
        **(
            {"corrects": record.corrects.record_id if record.corrects else None, "reason": record.reason}
            if record.corrects_id is not None
            else {}
        ),
    }


def usage_records_adjust(*, actor: Any, adjustments: list[dict[str, Any]]) -> UsageOutcome:
    """Store corrections (record_id, corrects, gpu_hours signed, reason); each adjustment id is stored once.

    An adjustment is dated as the record it corrects and belongs to the same booking; the record plus
    its adjustments stays >= 0 and the booking's total within its chips x hours.
    """
    _require_operator(actor)
    return _outcome_log("adjustment", _retrying(lambda: _adjust(actor=actor, adjustments=adjustments)))


def _outcome_log(batch: str, outcome: UsageOutcome) -> UsageOutcome:
    """One line per batch with refusals, counted by code: a site whose records keep being refused
    shows up here before it shows up in the fair-share factors."""
    if outcome.refused:
        codes = dict(Counter(r.code for r in outcome.refused))
        logger.info(
            "usage %s batch: %s stored, %s already known, %s refused %s",
            batch,
            outcome.created,
            outcome.already_reported,
            len(outcome.refused),
            codes,
            extra={
                "batch": batch,
                "stored": outcome.created,
                "already_reported": outcome.already_reported,
                "refused": len(outcome.refused),
                "refused_codes": codes,
            },
        )
    return outcome


def _adjust(*, actor: Any, adjustments: list[dict[str, Any]]) -> UsageOutcome:
    names = {str(a.get("corrects", "")) for a in adjustments}
    targets = {u.record_id: u for u in UsageRecord.objects.filter(record_id__in=names, corrects__isnull=True)}
    bookings = _locked_bookings(u.booking_id for u in targets.values())
    ids = [str(a.get("record_id", "")) for a in adjustments]
    known = {u.record_id: u for u in UsageRecord.objects.filter(record_id__in=ids).select_related("corrects")}
    recorded = _recorded(bookings)
    per_record = dict(
        UsageRecord.objects.filter(corrects__in=list(targets.values()))
        .values("corrects_id")
        .annotate(total=Sum("gpu_hours"))
        .order_by()
        .values_list("corrects_id", "total")
    )
    totals = {t.record_id: t.gpu_hours + (per_record.get(t.pk) or 0.0) for t in targets.values()}
    outcome, made = _sort_batch(
        ids,
        adjustments,
        known,
        _check_same_adjustment,
        lambda record_id, adjustment: _new_adjustment(
            actor=actor,
            record_id=record_id,
            adjustment=adjustment,
            targets=targets,
            bookings=bookings,
            recorded=recorded,
            totals=totals,
        ),
    )
    new = [stored for stored, _ in made]
    events = [
        audit_event(
            actor=actor,
            action="usage.adjusted",
            obj=stored,
            tenant=stored.booking.tenant,
            before={"record_id": stored.corrects.record_id if stored.corrects else None, "gpu_hours": before},
            after={**_snapshot(stored), "record_gpu_hours": before + stored.gpu_hours},
        )
        for stored, before in made
    ]
    _store(new, events)
    outcome.created = len(new)
    return outcome


def _check_same_adjustment(existing: UsageRecord, adjustment: dict[str, Any]) -> None:
    same = (
        existing.corrects is not None
        and existing.corrects.record_id == str(adjustment.get("corrects", ""))
        and math.isclose(existing.gpu_hours, _gpu_hours(adjustment.get("gpu_hours"), signed=True))
    )
    if not same:
        raise _Refused(
            "record_id",
            "conflict",
            _("Record %(id)s was already reported with other figures; correct it with an adjustment.")
            % {"id": existing.record_id},
        )


def _new_adjustment(
    *,
    actor: Any,
    record_id: str,
    adjustment: dict[str, Any],
    targets: dict[str, UsageRecord],
    bookings: dict[int, Booking],
    recorded: dict[int, float],
    totals: dict[str, float],
) -> tuple[UsageRecord, float]:
    """The adjustment to store and its record's total before it; or ``_Refused``."""
    if not record_id.strip():
        raise _Refused("record_id", "invalid", _("Give the adjustment its own record id."))
    target = targets.get(str(adjustment.get("corrects", "")))
    if target is None:
        raise _Refused(
            "corrects",
            "not_found",
            _(
                "No reported record %(id)s to correct (an adjustment corrects "
                "a reported record, not another adjustment)."
            )
            % {"id": adjustment.get("corrects")},
        )
    booking = bookings[target.booking_id]
    _check_tenant(booking)
    reason = str(adjustment.get("reason", "")).strip()
    if not reason or len(reason) > MAX_REASON:
        raise _Refused("reason", "invalid", _("Say why in at most %(max)s characters.") % {"max": MAX_REASON})
    gpu_hours = _gpu_hours(adjustment.get("gpu_hours"), signed=True)
    before = totals[target.record_id]
    if before + gpu_hours < -RELATIVE_SLACK * max(before, 1.0):
        raise _Refused(
            "gpu_hours",
            "below_zero",
            _("Record %(id)s stands at %(total)s GPU-hours; an adjustment cannot take it below zero.")
            % {"id": target.record_id, "total": f"{before:,.2f}"},
        )
    _check_limit(booking, recorded.get(booking.pk, 0.0), gpu_hours)
    recorded[booking.pk] = recorded.get(booking.pk, 0.0) + gpu_hours
    totals[target.record_id] = before + gpu_hours
    assert booking.inventory is not None
    stored = UsageRecord(
        record_id=record_id,
        booking=booking,
        tenant_id=booking.tenant_id,
        reported_by=actor,
        at=target.at,
        gpu_hours=gpu_hours,
        corrects=target,
        reason=reason,
        normalized_hours=gpu_hours * booking.inventory.chip_type.throughput,
    )
    return stored, before
