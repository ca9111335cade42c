"""Fixtures shared by the API tests that walk every endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocation.services.bookings import booking_fixed_create
from allocation.services.maintenance import maintenance_announce
from allocation.services.usage import usage_records_report
from tests.api import draft

START = datetime(2027, 1, 8, tzinfo=UTC)


@pytest.fixture
def world(funded: Any, aurora: Any, alice: Any, bob: Any, oscar: Any) -> None:
    """One object of every kind a route names: a booking with usage, a maintenance window, a draft request."""
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=4, chips=8
    )
    with pytest.MonkeyPatch.context() as clock:  # usage is reported for a booking that ran
        clock.setattr("django.utils.timezone.now", lambda: START + timedelta(hours=2))
        usage_records_report(
            actor=oscar,
            records=[{"record_id": "r-1", "booking": booking.pk, "at": START + timedelta(hours=1), "gpu_hours": 8.0}],
        )
    maintenance_announce(
        actor=oscar, inventory=funded.muc_h100, chips=1, starts_at=START, ends_at=START + timedelta(hours=2)
    )
    draft(bob)
