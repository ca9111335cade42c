"""E-mail through the outbox: each message mails each member once, however often its task runs.

Celery delivers at least once (a retry, a redelivery after a worker died under
``acks_late``, a duplicate beat), so a test here runs a task twice by calling
the on-commit callbacks a second time, which is what a redelivered message does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from smtplib import SMTPException
from typing import Any

import pytest
from django.core import mail
from django.db import connection, transaction

from allocation.models import Notification
from allocation.services import notifications
from allocation.services.booking_round import booking_round_run
from allocation.services.bookings import booking_flexible_create
from allocation.services.notifications import email_preference_set, notify_tenant
from allocation.services.requests import RequestContent, request_create, request_submit
from allocation.tasks import notifications_send

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)


def run_again(callbacks: list[Callable[[], Any]]) -> None:
    """The same task messages delivered a second time."""
    for callback in callbacks:
        callback()


def test_a_submission_mail_run_twice_reaches_each_member_once(
    catalogue: Any, aurora: Any, alice: Any, bob: Any, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    req = request_create(
        actor=bob,
        tenant=aurora,
        period=catalogue.period,
        content=RequestContent(title="Protein folding", chip_type=catalogue.h100, demand_gpu_hours=5000),
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        request_submit(actor=bob, request=req)
    run_again(callbacks)

    assert sorted((m.subject, m.to[0]) for m in mailoutbox) == [
        ("[InvestAI] Request submitted: Protein folding", "alice@example.eu"),
        ("[InvestAI] Request submitted: Protein folding", "bob@example.eu"),
    ]
    note = Notification.objects.get()
    assert note.sent_at is not None and note.recipients == 2


def test_the_task_run_twice_by_id_mails_once_and_says_so(aurora: Any, alice: Any, bob: Any, mailoutbox: Any) -> None:
    note = Notification.objects.create(tenant=aurora, subject="Maintenance at LUX", body="Friday 06:00-08:00.")

    assert notifications_send.delay([note.pk]).get() == 2
    assert notifications_send.delay([note.pk]).get() == 0  # sent already: nothing to do
    assert [m.to for m in mailoutbox] == [["alice@example.eu"], ["bob@example.eu"]]


def test_a_rolled_back_decision_leaves_no_notification_and_mails_no_one(
    aurora: Any, alice: Any, bob: Any, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        notify_tenant(tenant_id=aurora.pk, subject="Decision on Protein folding: accepted", body="Accepted.")
        raise RuntimeError("the decision failed after it asked for the mail")

    assert callbacks == []
    assert not Notification.objects.exists()
    assert mailoutbox == []


def test_members_who_opted_out_get_nothing_and_a_tenant_of_only_them_gets_its_row_closed(
    aurora: Any, alice: Any, bob: Any, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    email_preference_set(user=alice, enabled=False)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        to_bob = notify_tenant(tenant_id=aurora.pk, subject="Quota granted for 2027 Q1", body="5,000 hours.")
    email_preference_set(user=bob, enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        to_no_one = notify_tenant(tenant_id=aurora.pk, subject="Booking 7 expired", body="Its window ended.")
    run_again(callbacks)

    assert [(m.subject, m.to) for m in mailoutbox] == [("[InvestAI] Quota granted for 2027 Q1", ["bob@example.eu"])]
    to_bob.refresh_from_db()
    to_no_one.refresh_from_db()
    assert to_bob.recipients == 1
    assert to_no_one.sent_at is not None and to_no_one.recipients == 0


def test_the_booking_rounds_placement_mail_is_sent_once_when_its_task_runs_twice(
    funded: Any,
    aurora: Any,
    alice: Any,
    bob: Any,
    nimbus: Any,
    mallory: Any,
    mailoutbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    now = START - timedelta(hours=1)
    for i in range(3):
        booking_flexible_create(
            actor=alice,
            tenant=aurora,
            earliest_start=START + timedelta(hours=10 * i),
            latest_end=START + timedelta(hours=10 * i + 5),
            hours=5,
            chips=4,
            eligible=[funded.lux_h100],
        )
    nimbus_run, _ = booking_flexible_create(
        actor=mallory,
        tenant=nimbus,
        earliest_start=START,
        latest_end=START + timedelta(hours=5),
        hours=5,
        chips=4,
        eligible=[funded.lux_h100],
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        booking_round_run(inventory_ids=[funded.lux_h100.pk], now=now)
    assert len(callbacks) == 1  # one task for the batch, not one per booking or tenant
    run_again(callbacks)
    with django_capture_on_commit_callbacks(execute=True) as second_round:
        booking_round_run(inventory_ids=[funded.lux_h100.pk], now=now)  # places nothing, mails no one

    assert second_round == []
    assert sorted((m.subject, m.to[0]) for m in mailoutbox) == [
        ("[InvestAI] 3 bookings confirmed", "alice@example.eu"),
        ("[InvestAI] 3 bookings confirmed", "bob@example.eu"),
        (f"[InvestAI] Booking {nimbus_run.pk} confirmed", "mallory@example.eu"),
    ]
    assert Notification.objects.filter(sent_at__isnull=True).count() == 0


def test_a_send_that_fails_part_way_is_retried_for_the_rest_only(
    aurora: Any, alice: Any, nimbus: Any, mallory: Any, mailoutbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = notify_tenant(tenant_id=aurora.pk, subject="Booking 1 is at risk", body="Maintenance.")
    second = notify_tenant(tenant_id=nimbus.pk, subject="Booking 2 is at risk", body="Maintenance.")
    real_send = notifications.send_mass_mail

    def mail_server_down_for_nimbus(messages: Any, **kwargs: Any) -> int:
        if any("mallory@example.eu" in to for *_, to in messages):
            raise SMTPException("421 try again later")
        return real_send(messages, **kwargs)

    monkeypatch.setattr(notifications, "send_mass_mail", mail_server_down_for_nimbus)
    with pytest.raises(SMTPException):
        notifications_send.delay([first.pk, second.pk])
    second.refresh_from_db()
    assert second.sent_at is None  # the failed send did not mark it: at least once, never lost
    monkeypatch.setattr(notifications, "send_mass_mail", real_send)
    assert notifications_send.delay([first.pk, second.pk]).get() == 1

    assert [m.to for m in mailoutbox] == [["alice@example.eu"], ["mallory@example.eu"]]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_notification_at_once_mail_once(
    aurora: Any, alice: Any, bob: Any, mailoutbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections need PostgreSQL (SQLite's test database is one in-memory connection)")
    note = Notification.objects.create(tenant=aurora, subject="Quota granted for 2027 Q1", body="5,000 hours.")
    real_send = notifications.send_mass_mail

    def slow_mail_server(messages: Any, **kwargs: Any) -> int:
        time.sleep(0.5)  # the other worker arrives while this one is still sending
        return real_send(messages, **kwargs)

    monkeypatch.setattr(notifications, "send_mass_mail", slow_mail_server)
    barrier = threading.Barrier(2)
    sent: list[int | BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            sent.append(notifications.notification_send(notification_id=note.pk))
        except BaseException as exc:
            sent.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(sent, key=str) == [0, 2]
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.eu", "bob@example.eu"]


def test_a_message_whose_enqueue_was_lost_goes_out_once_from_beats_relay(
    aurora: Any, alice: Any, bob: Any, mailoutbox: Any
) -> None:
    # Written and committed, but the broker was down when its task was queued.
    lost = Notification.objects.create(tenant=aurora, subject="Maintenance at LUX", body="Friday 06:00-08:00.")
    fresh = Notification.objects.create(tenant=aurora, subject="Quota granted", body="2027-Q1")
    Notification.objects.filter(pk=lost.pk).update(created_at=lost.created_at - timedelta(minutes=11))

    assert notifications.notifications_requeue() == 1  # the fresh one's own task may still be on its way
    assert notifications.notifications_requeue() == 0  # a second beat finds it sent
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.eu", "bob@example.eu"]
    assert {m.subject for m in mailoutbox} == {"[InvestAI] Maintenance at LUX"}
    fresh.refresh_from_db()
    assert fresh.sent_at is None
