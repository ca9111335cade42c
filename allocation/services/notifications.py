"""E-mail to a tenant's members about their requests, decisions, grants and bookings.

Invariants:
- every message is first a ``Notification`` row (the outbox) written in the
  caller's transaction, and its id is queued only after that transaction
  commits: a rolled-back decision leaves no row and never mails anyone;
- members who opted out get nothing (recipients are read when sending);
- the sending happens in a Celery task, never in a web request, one row per
  transaction: the row is locked, skipped if ``sent_at`` is set, otherwise
  mailed and marked sent before the commit. A task run twice (a retry, a
  redelivery under ``acks_late``, two workers at once) therefore mails each
  row once; the second run waits for the first one's lock and finds it sent.

The trade-off, chosen on purpose: at least once, not at most once. A process
that dies after the mail server accepted a message but before the commit
leaves the row unsent, and the redelivered task mails it again; marking it
sent in an earlier transaction would instead lose the message for good on
that crash. The lock is held while the mail server answers, which only the
duplicate run waits for (on SQLite, whose lock is the whole database, every
writer waits; the embedded setup mails to the console). A row whose enqueue
was lost after the commit (broker down, worker killed) is picked up by beat's
``notifications_requeue`` once it is ``REQUEUE_AFTER`` old; queueing a row
twice is harmless for the reason above.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.utils import timezone

from allocation.models import Membership, Notification, NotificationSettings

if TYPE_CHECKING:
    from allocation.models import Booking

# Long enough that a row's own on-commit enqueue has normally been worked off;
# a row queued twice is still mailed once.
REQUEUE_AFTER = timedelta(minutes=10)
REQUEUE_BATCH = 500


def notify_tenant(*, tenant_id: int, subject: str, body: str) -> Notification:
    """Put a message to the tenant's members in the outbox; it is queued once the caller commits."""
    notification = Notification.objects.create(tenant_id=tenant_id, subject=subject, body=body)
    _enqueue([notification.pk])
    return notification


def bookings_placed_notify(*, bookings: Sequence[Booking]) -> list[Notification]:
    """One message per tenant listing these bookings a booking round just placed.

    Called inside the round's batch transaction with the placed bookings in hand (inventory,
    chip type and site already loaded): no query per booking, one insert for the batch, and one
    task for the batch, not one per booking or tenant; enqueueing was a quarter of the time the
    round spent writing.
    """
    lines: dict[int, list[str]] = {}
    for booking in sorted(bookings, key=lambda b: b.pk):
        lines.setdefault(booking.tenant_id, []).append(
            f"Booking {booking.pk}: {booking.chips} chips on {booking.inventory} from "
            f"{booking.starts_at:%Y-%m-%d %H:00} UTC for {booking.hours} h."
        )
    notifications = Notification.objects.bulk_create(
        Notification(
            tenant_id=tenant_id,
            body="\n".join(said),
            subject=said[0].split(":")[0] + " confirmed" if len(said) == 1 else f"{len(said)} bookings confirmed",
        )
        for tenant_id, said in lines.items()
    )
    _enqueue([n.pk for n in notifications])
    return notifications


def _enqueue(notification_ids: list[int]) -> None:
    """Queue the rows once the caller commits: a worker could not see them before, and a rollback
    drops this callback together with the rows."""
    from allocation.tasks import notifications_send

    if notification_ids:
        transaction.on_commit(lambda: notifications_send.delay(notification_ids))


def recipients(*, tenant_id: int) -> list[str]:
    opted_out = NotificationSettings.objects.filter(email_enabled=False).values("user_id")
    return sorted(
        Membership.objects.filter(tenant_id=tenant_id)
        .exclude(user_id__in=opted_out)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )


def notification_send(*, notification_id: int) -> int:
    """Mail one outbox row unless it was mailed already; returns the messages sent (0 on a re-run)."""
    with transaction.atomic():
        notification = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if notification is None or notification.sent_at is not None:
            return 0
        messages = [
            (
                f"[InvestAI] {notification.subject}",
                f"{notification.body}\n\n{settings.SITE_URL}/\n",
                settings.DEFAULT_FROM_EMAIL,
                [address],
            )
            for address in recipients(tenant_id=notification.tenant_id)
        ]
        sent = send_mass_mail(messages, fail_silently=False) if messages else 0
        notification.sent_at, notification.recipients = timezone.now(), len(messages)
        notification.save(update_fields=["sent_at", "recipients"])
    return sent


def notifications_send(*, notification_ids: list[int]) -> int:
    """Mail each of these outbox rows, each in its own transaction.

    A failure part-way leaves the rows before it sent and marked, so a retry mails only the rest.
    """
    return sum(notification_send(notification_id=pk) for pk in sorted(notification_ids))


def notifications_requeue(*, now: Any = None) -> int:
    """Queue again every unsent row older than ``REQUEUE_AFTER``; returns how many.

    The outbox's relay: without it a message whose enqueue was lost after its
    transaction committed would never go out.
    """
    from allocation.tasks import notifications_send

    cutoff = (now or timezone.now()) - REQUEUE_AFTER
    stale = list(
        Notification.objects.filter(sent_at__isnull=True, created_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(stale), REQUEUE_BATCH):
        notifications_send.delay(stale[start : start + REQUEUE_BATCH])
    return len(stale)


def email_preference_set(*, user: Any, enabled: bool) -> NotificationSettings:
    prefs, _ = NotificationSettings.objects.update_or_create(user=user, defaults={"email_enabled": enabled})
    return prefs
