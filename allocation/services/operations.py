"""What site operators do: report usage (maintenance and bookings at risk: ``services.maintenance``).

Invariants:
- a usage record id is stored once: a batch re-sent after a timeout creates
  nothing new, and a different figure under a known id is refused;
- only operators (or platform admins) report.
"""

from __future__ import annotations

import math
from typing import Any

from django.db import transaction

from allocation import policies
from allocation.models import Booking, UsageRecord
from allocation.services.errors import NotAllowed, ServiceError


@transaction.atomic
def usage_records_report(*, actor: Any, records: list[dict[str, Any]]) -> dict[str, int]:
    """Store a batch of usage reports; each record id is stored once."""
    if not policies.is_operator(actor):
        raise NotAllowed("Only site operators report usage.")
    ids = [str(r["record_id"]) for r in records]
    if len(set(ids)) != len(ids):
        raise ServiceError("records", "A batch lists a record id twice.")
    known = {u.record_id: u for u in UsageRecord.objects.filter(record_id__in=ids)}
    bookings = {b.pk: b for b in Booking.objects.filter(pk__in=[r["booking"] for r in records])
                .select_related("inventory__chip_type")}
    new: list[UsageRecord] = []
    for index, record in enumerate(records):
        field = f"records[{index}]"
        booking = bookings.get(record["booking"])
        if booking is None or booking.inventory is None:
            raise ServiceError(field, f"Booking {record['booking']} does not exist or was never placed.")
        gpu_hours = float(record["gpu_hours"])
        if not math.isfinite(gpu_hours) or gpu_hours < 0 or gpu_hours > booking.chips * booking.hours:
            raise ServiceError(field, f"gpu_hours must be between 0 and the booking's {booking.chips * booking.hours}.")
        if (existing := known.get(str(record["record_id"]))) is not None:
            if existing.booking_id != booking.pk or not math.isclose(existing.gpu_hours, gpu_hours):
                raise ServiceError(field, f"Record {existing.record_id} was already reported with other figures.")
            continue
        new.append(UsageRecord(record_id=str(record["record_id"]), booking=booking, tenant_id=booking.tenant_id,
                               reported_by=actor, at=record["at"], gpu_hours=gpu_hours,
                               normalized_hours=gpu_hours * booking.inventory.chip_type.throughput))
    UsageRecord.objects.bulk_create(new, ignore_conflicts=True)
    return {"created": len(new), "already_reported": len(records) - len(new)}
