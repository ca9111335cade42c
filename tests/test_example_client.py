"""examples/book_via_api.py against a live server: it logs in, finds a slot and books it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from allocation.models import Booking, BookingStatus
from allocation.services.bookings import booking_fixed_create
from tests.factories import PASSWORD, grant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]
CLIENT = Path(__file__).resolve().parents[1] / "examples" / "book_via_api.py"
START = datetime(2027, 1, 8, tzinfo=UTC)


def run_client(*args: str) -> subprocess.CompletedProcess[str]:
    # No Django, no settings: the client is a plain script using the standard library.
    return subprocess.run(
        [sys.executable, str(CLIENT), *args], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}
    )


def test_the_example_client_books_the_first_slot_that_fits(
    live_server: Any, catalogue: Any, aurora: Any, alice: Any, bob: Any, carol: Any
) -> None:
    grant(catalogue, aurora, carol, 10_000, catalogue.lux_h100)
    # 80 of lux's 90 chips are taken for the first two hours: 20 chips first fit at 02:00.
    booking_fixed_create(actor=bob, tenant=aurora, inventory=catalogue.lux_h100, starts_at=START, hours=2, chips=80)

    result = run_client(
        "--url",
        live_server.url,
        "--username",
        "alice",
        "--password",
        PASSWORD,
        "--resource",
        "lux/h100",
        "--chips",
        "20",
        "--hours",
        "3",
        "--start",
        "2027-01-08T00:00:00Z",
    )

    assert result.returncode == 0, result.stderr
    first_line, rest = result.stdout.split("\n", 1)
    assert "confirmed" in first_line and "20 chips of lux/h100" in first_line
    booking = json.loads(rest)
    assert booking["status"] == "confirmed" and booking["starts_at"] == "2027-01-08T02:00:00Z"
    stored = Booking.objects.get(pk=booking["id"])
    assert (stored.status, stored.created_by, stored.starts_at) == (
        BookingStatus.CONFIRMED,
        alice,
        START + timedelta(hours=2),
    )
    assert stored.idempotency_key.startswith("book-via-api-")


def test_the_example_client_takes_a_token_and_reports_a_refusal(
    live_server: Any, catalogue: Any, aurora: Any, alice: Any
) -> None:
    token = Token.objects.create(user=alice).key
    # No grant: the booking is refused and the client says why.
    result = run_client(
        "--url",
        live_server.url,
        "--token",
        token,
        "--resource",
        "muc/h100",
        "--chips",
        "8",
        "--hours",
        "2",
        "--start",
        "2027-01-08T00:00:00Z",
    )
    assert result.returncode == 1
    assert "Refused: HTTP 409: No grant of yours covers muc/h100 in 2027 Q1." in result.stderr
    assert not Booking.objects.exists()
