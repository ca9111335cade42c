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
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allocation.models import Notification
from allocation.services import notifications, rounds
from allocation.services.booking_round import booking_round_run
from allocation.services.bookings import booking_flexible_create
from allocation.services.notifications import email_preference_set, tenant_notify
from allocation.services.requests import RequestContent, request_create, request_decide, request_submit
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
    assert Notification.objects.filter(sent_at__isnull=False).count() == 2  # one row per member


def test_the_task_run_twice_by_id_mails_once_and_says_so(aurora: Any, alice: Any, bob: Any, mailoutbox: Any) -> None:
    notes = tenant_notify(tenant_id=aurora.pk, subject="Maintenance at LUX", body="Friday 06:00-08:00.")
    ids = [n.pk for n in notes]

    assert notifications_send.delay(ids).get() == 2
    assert notifications_send.delay(ids).get() == 0  # sent already: nothing to do
    assert [m.to for m in mailoutbox] == [["alice@example.eu"], ["bob@example.eu"]]


def test_a_rolled_back_decision_leaves_no_notification_and_mails_no_one(
    aurora: Any, alice: Any, bob: Any, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        tenant_notify(tenant_id=aurora.pk, subject="Decision on Protein folding: accepted", body="Accepted.")
        raise RuntimeError("the decision failed after it asked for the mail")

    assert callbacks == []
    assert not Notification.objects.exists()
    assert mailoutbox == []


def test_members_who_opted_out_get_nothing_and_a_tenant_of_only_them_gets_no_row(
    aurora: Any, alice: Any, bob: Any, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    email_preference_set(user=alice, enabled=False)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        to_bob = tenant_notify(tenant_id=aurora.pk, subject="Quota granted for 2027 Q1", body="5,000 hours.")
    email_preference_set(user=bob, enabled=False)
    with django_capture_on_commit_callbacks(execute=True) as nothing_queued:
        to_no_one = tenant_notify(tenant_id=aurora.pk, subject="Booking 7 expired", body="Its window ended.")
    run_again(callbacks)

    assert [(m.subject, m.to) for m in mailoutbox] == [("[InvestAI] Quota granted for 2027 Q1", ["bob@example.eu"])]
    assert [n.user_id for n in to_bob] == [bob.pk]
    assert to_no_one == [] and nothing_queued == []


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


def test_a_refused_address_fails_only_its_own_mail_and_is_retried_until_the_relay_gives_up(
    aurora: Any, alice: Any, bob: Any, nimbus: Any, mallory: Any, mailoutbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        *tenant_notify(tenant_id=aurora.pk, subject="Booking 1 is at risk", body="Maintenance."),
        *tenant_notify(tenant_id=nimbus.pk, subject="Booking 2 is at risk", body="Maintenance."),
    ]
    ids = [n.pk for n in rows]
    real_send = notifications.send_mail

    def refuses_bob(subject: str, body: str, sender: str, to: list[str], **kwargs: Any) -> int:
        if to == ["bob@example.eu"]:
            raise SMTPException("550 mailbox unavailable")
        return real_send(subject, body, sender, to, **kwargs)

    monkeypatch.setattr(notifications, "send_mail", refuses_bob)
    assert notifications_send.delay(ids).get() == 2  # alice and mallory; the batch goes on past bob
    later = timezone.now() + notifications.REQUEUE_AFTER
    for _ in range(notifications.MAX_ATTEMPTS + 2):  # beat's relay, every few minutes
        notifications.notifications_requeue(now=later)

    bobs = Notification.objects.get(user=bob)
    assert bobs.sent_at is None and bobs.attempts == notifications.MAX_ATTEMPTS
    assert bobs.last_error == "SMTPException: 550 mailbox unavailable"
    assert notifications.notifications_requeue(now=later) == 0  # given up: left for an operator
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.eu", "mallory@example.eu"]  # nobody twice

    monkeypatch.setattr(notifications, "send_mail", real_send)
    Notification.objects.filter(user=bob).update(attempts=0)  # an operator fixed the address
    assert notifications.notifications_requeue(now=later) == 1
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.eu", "bob@example.eu", "mallory@example.eu"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_notification_at_once_mail_once(
    aurora: Any, alice: Any, bob: Any, mailoutbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections need PostgreSQL (SQLite's test database is one in-memory connection)")
    # Written straight into the outbox: tenant_notify would queue it at once (autocommit, eager Celery).
    note = Notification.objects.create(tenant=aurora, user=alice, subject="Quota granted for 2027 Q1", body="5,000 h.")
    real_send = notifications.send_mail

    def slow_mail_server(*args: Any, **kwargs: Any) -> int:
        time.sleep(0.5)  # the other worker arrives while this one is still sending
        return real_send(*args, **kwargs)

    monkeypatch.setattr(notifications, "send_mail", slow_mail_server)
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

    assert sorted(sent, key=str) == [0, 1]
    assert [m.to[0] for m in mail.outbox] == ["alice@example.eu"]


def test_a_message_whose_enqueue_was_lost_goes_out_once_from_beats_relay(
    aurora: Any, alice: Any, bob: Any, mailoutbox: Any
) -> None:
    # Written and committed, but the broker was down when their task was queued.
    lost = tenant_notify(tenant_id=aurora.pk, subject="Maintenance at LUX", body="Friday 06:00-08:00.")
    fresh = tenant_notify(tenant_id=aurora.pk, subject="Quota granted", body="2027-Q1")
    Notification.objects.filter(pk__in=[n.pk for n in lost]).update(created_at=timezone.now() - timedelta(minutes=11))

    assert notifications.notifications_requeue() == 2  # the fresh ones' own task may still be on its way
    assert notifications.notifications_requeue() == 0  # a second beat finds them sent
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.eu", "bob@example.eu"]
    assert {m.subject for m in mailoutbox} == {"[InvestAI] Maintenance at LUX"}
    assert not Notification.objects.filter(pk__in=[n.pk for n in fresh], sent_at__isnull=False).exists()


def test_a_committed_round_mails_every_granted_tenants_members_through_one_insert_and_one_task(
    catalogue: Any,
    aurora: Any,
    alice: Any,
    bob: Any,
    nimbus: Any,
    mallory: Any,
    carol: Any,
    mailoutbox: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for tenant, pi in ((aurora, bob), (nimbus, mallory)):
        req = request_create(
            actor=pi,
            tenant=tenant,
            period=catalogue.period,
            content=RequestContent(title=f"{tenant.name} run", chip_type=catalogue.h100, demand_gpu_hours=1000),
        )
        request_submit(actor=pi, request=req)
        request_decide(actor=carol, request=req, accept=True)
    with django_capture_on_commit_callbacks(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    mailoutbox.clear()

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
        rounds.round_commit(actor=carol, round_id=rnd.pk)
    table = Notification._meta.db_table
    assert sum(q["sql"].startswith(f'INSERT INTO "{table}"') for q in queries.captured_queries) == 1
    assert sum("enqueue.notifications_send" in callback.__qualname__ for callback in callbacks) == 1
    run_again(callbacks)
    run_again(callbacks)  # and a redelivery mails no one again

    subject = f"[InvestAI] Quota granted for {catalogue.period.name}"
    assert sorted((m.subject, m.to[0]) for m in mailoutbox) == [
        (subject, "alice@example.eu"),
        (subject, "bob@example.eu"),
        (subject, "mallory@example.eu"),
    ]
