"""What an operator reads in the logs: each event once, with the ids it concerns, and nothing private.

The services log through module loggers (``allocation.services.<module>``); settings send them to
stderr as plain lines or, with ``LOG_FORMAT=json``, as one JSON object per line.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from smtplib import SMTPException
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from allocation.models import AllocationRound, Notification, Tenant
from allocation.services import notifications, rounds
from allocation.services.booking_round import booking_round_run
from allocation.services.bookings import booking_fixed_create, booking_flexible_create
from allocation.services.errors import NotAllowed
from allocation.services.maintenance import maintenance_announce
from allocation.services.notifications import tenant_notify
from allocation.services.requests import RequestContent, request_create, request_decide, request_submit
from allocation.services.usage import usage_records_report
from investai.log_format import JsonLinesFormatter
from tests.api import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
ROOT = Path(__file__).resolve().parent.parent
START = datetime(2027, 1, 8, tzinfo=UTC)


def lines(caplog: pytest.LogCaptureFixture, logger: str, level: int = logging.INFO) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno >= level]


def committed_round(catalogue: Any, carol: Any, capture: Any) -> AllocationRound:
    with capture(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    rnd.refresh_from_db()
    with capture(execute=True):
        return rounds.round_commit(actor=carol, round_id=rnd.pk)


def accept(catalogue: Any, tenant: Any, pi: Any, carol: Any, gpu_hours: float, **content: Any) -> None:
    req = request_create(
        actor=pi,
        tenant=tenant,
        period=catalogue.period,
        content=RequestContent(
            title=f"{tenant.name} {gpu_hours}", chip_type=catalogue.h100, demand_gpu_hours=gpu_hours, **content
        ),
    )
    request_submit(actor=pi, request=req)
    request_decide(actor=carol, request=req, accept=True)


@pytest.fixture
def accepted_request(catalogue: Any, aurora: Any, bob: Any, carol: Any) -> None:
    accept(catalogue, aurora, bob, carol, 1000)


@pytest.mark.usefixtures("accepted_request")
def test_a_round_logs_its_compute_and_its_commit_with_its_id_and_the_round_it_supersedes(
    catalogue: Any, carol: Any, django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first = committed_round(catalogue, carol, django_capture_on_commit_callbacks)
    second = committed_round(catalogue, carol, django_capture_on_commit_callbacks)

    logged = lines(caplog, "allocation.services.rounds")
    messages = [r.getMessage() for r in logged]
    assert f"round {first.pk} (period 2027-q1): computing the preview" in messages
    computed = next(r for r in logged if r.round_id == second.pk and "computed" in r.getMessage())
    assert (computed.period_slug, computed.grants, computed.tenants) == ("2027-q1", 1, 1)
    assert computed.seconds >= 0
    commits = [r for r in logged if "committed" in r.getMessage()]
    assert [(r.round_id, r.grants, r.superseded_round_ids) for r in commits] == [
        (first.pk, 1, []),
        (second.pk, 1, [first.pk]),
    ]
    assert f"superseded rounds [{first.pk}]" in commits[1].getMessage()


def test_a_round_the_engine_refuses_is_a_warning_naming_the_round_and_why(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # As in test_fair_share_exact.py: a subnormal weight makes the engine refuse rather than overgrant.
    Tenant.objects.filter(pk=nimbus.pk).update(weight=1e-320)
    if Tenant.objects.get(pk=nimbus.pk).weight == 0.0:
        pytest.skip("this database does not keep subnormal floats")
    accept(catalogue, aurora, bob, carol, 50_000, eligible_sites=(catalogue.lux,))
    accept(catalogue, nimbus, mallory, carol, 194_400, eligible_sites=(catalogue.lux,))
    caplog.set_level(logging.INFO)
    with django_capture_on_commit_callbacks(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)

    *_, refused = lines(caplog, "allocation.services.rounds")
    assert (refused.levelno, refused.round_id, refused.period_slug) == (logging.WARNING, rnd.pk, "2027-q1")
    assert refused.getMessage().startswith(f"round {rnd.pk} (period 2027-q1): the engine refused it: resource lux/h100")


def test_a_booking_round_shard_logs_its_start_and_its_counts(
    funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    window = dict(
        earliest_start=START, latest_end=START + timedelta(hours=10), hours=10, chips=60, eligible=[funded.lux_h100]
    )
    booking_flexible_create(actor=alice, tenant=aurora, **window)
    booking_flexible_create(actor=mallory, tenant=nimbus, **window)
    caplog.set_level(logging.INFO)

    booking_round_run(inventory_ids=[funded.lux_h100.pk], now=START - timedelta(hours=1))

    start, done = lines(caplog, "allocation.services.booking_round")
    assert start.getMessage() == f"booking round shard [{funded.lux_h100.pk}]: placing pending bookings"
    assert (done.resource_ids, done.bookings, done.placed, done.unplaced) == ([funded.lux_h100.pk], 2, 1, 1)
    assert done.unplaced_reasons == {"capacity": 1}
    assert "2 bookings, 1 placed, 1 unplaced" in done.getMessage()


def test_a_refused_booking_is_one_info_line_with_code_and_ids_but_no_token_or_user(
    funded: Any, alice: Any, aurora: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = client_for(alice).post(
        "/api/v1/bookings/",
        {
            "tenant": "aurora-lab",
            "resource": "muc/b200",
            "starts_at": "2027-01-08T00:00:00Z",
            "hours": 100,
            "chips": 50,
        },
        format="json",
    )  # 12,500 normalized hours > the 10,000 granted
    assert response.status_code == 409

    (refusal,) = lines(caplog, "allocation.services.bookings")
    assert refusal.levelno == logging.INFO
    assert (refusal.code, refusal.field, refusal.tenant_id, refusal.resource_ids) == (
        "quota",
        "quota",
        aurora.pk,
        [funded.muc_b200.pk],
    )
    assert refusal.getMessage() == (
        f"fixed booking refused (quota on quota): tenant {aurora.pk}, resources [{funded.muc_b200.pk}]"
    )
    token = Token.objects.get(user=alice).key
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert token not in everything
    assert alice.email not in everything and alice.username not in everything


def test_a_refusal_before_any_check_of_the_ledger_is_logged_too(
    funded: Any, mallory: Any, aurora: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(NotAllowed):
        booking_flexible_create(
            actor=mallory,
            tenant=aurora,
            eligible=[funded.lux_h100],
            earliest_start=START,
            latest_end=START + timedelta(hours=10),
            hours=10,
            chips=1,
        )
    (refusal,) = lines(caplog, "allocation.services.bookings")
    assert (refusal.booking_kind, refusal.code, refusal.tenant_id) == ("flexible", "not_allowed", aurora.pk)


def test_a_confirmed_fixed_booking_logs_nothing_at_info(
    funded: Any, alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(alice)
    caplog.set_level(logging.INFO)
    response = client.post(
        "/api/v1/bookings/",
        {"tenant": "aurora-lab", "resource": "lux/h100", "starts_at": "2027-01-08T00:00:00Z", "hours": 10, "chips": 60},
        format="json",
    )
    assert response.status_code == 201
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


def test_the_outbox_logs_each_failed_attempt_and_its_give_up_without_the_address(
    aurora: Any, bob: Any, mailoutbox: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuses(*args: Any, **kwargs: Any) -> int:
        raise SMTPException(f"550 <{bob.email}> mailbox unavailable")

    (row,) = tenant_notify(tenant_id=aurora.pk, subject="Booking 1 is at risk", body="Maintenance.")
    monkeypatch.setattr(notifications, "send_mail", refuses)
    caplog.set_level(logging.INFO)
    later = row.created_at + notifications.REQUEUE_AFTER
    for _ in range(notifications.MAX_ATTEMPTS + 1):  # beat's relay, past the last attempt
        notifications.notifications_requeue(now=later)

    logged = lines(caplog, "allocation.services.notifications")
    failures = [r for r in logged if hasattr(r, "notification_id")]
    retries = [(logging.INFO, attempt) for attempt in range(1, notifications.MAX_ATTEMPTS)]
    assert [(r.levelno, r.attempts) for r in failures] == [*retries, (logging.WARNING, notifications.MAX_ATTEMPTS)]
    give_up = failures[-1]
    assert (give_up.notification_id, give_up.tenant_id, give_up.error_type) == (row.pk, aurora.pk, "SMTPException")
    assert give_up.getMessage().startswith(f"notification {row.pk} (tenant {aurora.pk}): giving up after 6")
    relayed = [r for r in logged if hasattr(r, "first_notification_id")]
    assert len(relayed) == notifications.MAX_ATTEMPTS  # the last relay found nothing left to queue
    assert all(bob.email not in f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert Notification.objects.get(pk=row.pk).attempts == notifications.MAX_ATTEMPTS


def test_a_failing_health_check_is_logged_with_its_name(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from investai.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    caplog.set_level(logging.INFO)
    assert client.get("/healthz").status_code == 503
    (failure,) = lines(caplog, "allocation.web.health")
    assert (failure.levelno, failure.check) == (logging.WARNING, "broker")
    assert failure.getMessage().startswith("health check broker failed: ")
    assert failure.error == client.get("/healthz").json()["checks"]["broker"]["error"]


def test_maintenance_logs_the_window_and_the_bookings_it_put_at_risk(
    funded: Any, aurora: Any, alice: Any, oscar: Any, caplog: pytest.LogCaptureFixture
) -> None:
    booking, _ = booking_fixed_create(
        actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=10, chips=60
    )
    caplog.set_level(logging.INFO)
    window, _ = maintenance_announce(
        actor=oscar,
        inventory=funded.lux_h100,
        chips=50,
        starts_at=START,
        ends_at=START + timedelta(hours=2),
        now=START - timedelta(days=1),
    )
    at_risk, announced = lines(caplog, "allocation.services.maintenance")
    assert (at_risk.levelno, at_risk.resource_id, at_risk.booking_ids, at_risk.tenant_ids) == (
        logging.WARNING,
        funded.lux_h100.pk,
        [booking.pk],
        [aurora.pk],
    )
    assert (announced.window_id, announced.resource_id, announced.at_risk) == (window.pk, funded.lux_h100.pk, 1)


def test_a_usage_batch_with_refusals_logs_their_count_by_code(
    funded: Any, oscar: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    usage_records_report(
        actor=oscar,
        records=[
            {"record_id": "r1", "booking": 999_999, "at": START, "gpu_hours": 1},
            {"record_id": "r1", "booking": 999_999, "at": START, "gpu_hours": 1},
            {"record_id": "r2", "booking": 999_998, "at": START, "gpu_hours": 1},
        ],
    )
    (batch,) = lines(caplog, "allocation.services.usage")
    assert (batch.stored, batch.refused, batch.refused_codes) == (0, 3, {"not_found": 2, "duplicate": 1})


def test_the_json_formatter_writes_one_object_per_line_with_the_extra_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    logger = logging.getLogger("tests.logging.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("round %s committed", 7, extra={"round_id": 7, "at": START, "ids": [1, 2]})
        try:
            raise ValueError("two\nlines")
        except ValueError:
            logger.exception("computing failed", extra={"round_id": 8})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first.keys() >= {"time", "level", "logger", "message"}
    assert (first["level"], first["logger"], first["message"]) == ("WARNING", "tests.logging.json", "round 7 committed")
    assert (first["round_id"], first["at"], first["ids"]) == (7, str(START), [1, 2])
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert "args" not in first and "msg" not in first and "exception" not in first
    assert second["round_id"] == 8 and "ValueError: two\nlines" in second["exception"]


def _settings_logging(log_format: str) -> subprocess.CompletedProcess[str]:
    """Django set up from the project's settings in a fresh process, logging one line."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOG_")}
    env.update(DJANGO_SETTINGS_MODULE="investai.settings", LOG_FORMAT=log_format, LOG_LEVEL="info")
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('allocation.services.rounds').info('round %s committed', 3, extra={'round_id': 3})"
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_log_format_json_makes_the_settings_write_json_lines_and_plain_stays_readable() -> None:
    as_json = _settings_logging("json")
    assert as_json.returncode == 0, as_json.stderr
    (line,) = [json.loads(line) for line in as_json.stderr.splitlines()]
    assert (line["logger"], line["message"], line["round_id"]) == ("allocation.services.rounds", "round 3 committed", 3)
    plain = _settings_logging("plain")
    assert plain.stderr.strip().endswith("INFO allocation.services.rounds round 3 committed")


def test_an_unknown_log_format_stops_start_up_with_one_line() -> None:
    refused = _settings_logging("xml")
    assert refused.returncode != 0
    assert "LOG_FORMAT must be plain or json" in refused.stderr
