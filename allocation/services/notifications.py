"""E-mail to a tenant's members about their requests, decisions, grants and bookings.

Invariants:
- every e-mail is first a ``Notification`` row (the outbox), one per message
  and recipient, written in the caller's transaction; the ids are queued only
  after that transaction commits: a rolled-back decision leaves no row and
  never mails anyone;
- recipients are the tenant's members with an address who had not opted out
  when the row was written;
- the sending happens in a Celery task, never in a web request, one row per
  transaction: the row is locked, skipped if ``sent_at`` is set, otherwise
  mailed and marked sent before the commit. A task run twice (a retry, a
  redelivery under ``acks_late``, two workers at once) therefore mails each
  row once; the second run waits for the first one's lock and finds it sent.
- a send that fails (a refused address, the mail server down) is recorded on
  its row (``attempts``, ``last_error``) and fails nothing else; beat's relay
  (``notifications_requeue``) tries it again later, up to ``MAX_ATTEMPTS``.

The trade-off, chosen on purpose: at least once, not at most once. A process
that dies after the mail server accepted a message but before the commit
leaves the row unsent, and the next run mails it again; marking it sent in
an earlier transaction would instead lose the message for good on that crash.
The lock is held while the mail server answers one message, which only a
duplicate run waits for (on SQLite, whose lock is the whole database, every
writer waits; the embedded setup mails to the console). A row whose enqueue
was lost after the commit (broker down, worker killed) is picked up by the
relay once it is ``REQUEUE_AFTER`` old.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from smtplib import SMTPException
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from allocation.models import Membership, Notification, NotificationSettings
from allocation.services import enqueue

if TYPE_CHECKING:
    from allocation.models import Booking

logger = logging.getLogger(__name__)

# Long enough that a row's own on-commit enqueue has normally been worked off;
# a row queued twice is still mailed once.
REQUEUE_AFTER = timedelta(minutes=10)
REQUEUE_BATCH = 500
# With the relay every five minutes, about half an hour of a mail server's
# trouble; an address refused that often is not going to work.
MAX_ATTEMPTS = 6


def tenant_notify(*, tenant_id: int, subject: str, body: str) -> list[Notification]:
    """Put a message to the tenant's members in the outbox; it is queued once the caller commits."""
    return tenants_notify(messages={tenant_id: (subject, body)})


def bookings_placed_notify(*, bookings: Sequence[Booking]) -> list[Notification]:
    """One message per tenant listing these bookings a booking round just placed.

    Called inside the round's batch transaction with the placed bookings in hand (inventory,
    chip type and site already loaded): no query per booking but one for the recipients, one
    insert and one task for the batch, not one per booking or tenant: a task per tenant would
    cost the round more than its own writes.
    """
    placed: dict[int, list[Booking]] = {}
    for booking in sorted(bookings, key=lambda b: b.pk):
        placed.setdefault(booking.tenant_id, []).append(booking)
    return tenants_notify(
        messages={
            tenant_id: (
                _("Booking %(id)s confirmed") % {"id": said[0].pk}
                if len(said) == 1
                else _("%(count)s bookings confirmed") % {"count": len(said)},
                "\n".join(
                    _("Booking %(id)s: %(chips)s chips on %(resource)s from %(start)s UTC for %(hours)s h.")
                    % {
                        "id": b.pk,
                        "chips": b.chips,
                        "resource": b.inventory,
                        "start": f"{b.starts_at:%Y-%m-%d %H:00}",
                        "hours": b.hours,
                    }
                    for b in said
                ),
            )
            for tenant_id, said in placed.items()
        }
    )


def tenants_notify(*, messages: Mapping[int, tuple[str, str]]) -> list[Notification]:
    """Tenant -> (subject, body) into the outbox: one row per member who gets mail, and however
    many tenants, one query for the members, one insert and one task on commit."""
    to = recipients(tenant_ids=messages)
    rows = Notification.objects.bulk_create(
        Notification(tenant_id=tenant_id, user_id=user_id, subject=subject, body=body)
        for tenant_id, (subject, body) in messages.items()
        for user_id in to.get(tenant_id, [])
    )
    enqueue.notifications_send(notification_ids=[n.pk for n in rows])
    return rows


def recipients(*, tenant_ids: Iterable[int]) -> dict[int, list[int]]:
    """Tenant -> ids of its members who get e-mail (an address, not opted out), in user order."""
    opted_out = NotificationSettings.objects.filter(email_enabled=False).values("user_id")
    members = (
        Membership.objects.filter(tenant_id__in=list(tenant_ids))
        .exclude(user_id__in=opted_out)
        .exclude(user__email="")
        .order_by("tenant_id", "user_id")
        .values_list("tenant_id", "user_id")
    )
    found: dict[int, list[int]] = {}
    for tenant_id, user_id in members:
        found.setdefault(tenant_id, []).append(user_id)
    return found


def notification_send(*, notification_id: int) -> int:
    """Mail one outbox row unless it was mailed already; returns the messages sent (1, or 0 on a
    re-run, a give-up or a failure, which the row records)."""
    with transaction.atomic():
        row = Notification.objects.select_for_update().select_related("user").filter(pk=notification_id).first()
        if row is None or row.sent_at is not None or row.attempts >= MAX_ATTEMPTS:
            return 0
        try:
            sent = send_mail(
                f"[InvestAI] {row.subject}",
                f"{row.body}\n\n{settings.SITE_URL}/\n",
                settings.DEFAULT_FROM_EMAIL,
                [row.user.email],
                fail_silently=False,
            )
        except (SMTPException, OSError) as exc:
            # Recorded, not raised: the row's other attempts are the relay's business, and the
            # rest of the batch still goes out.
            row.attempts += 1
            row.last_error = f"{type(exc).__name__}: {exc}"[:500]
            row.save(update_fields=["attempts", "last_error"])
            _failure_log(row, exc)
            return 0
        row.sent_at = timezone.now()
        row.save(update_fields=["sent_at"])
    return sent


def _failure_log(row: Notification, exc: Exception) -> None:
    """A failed send: a retry to come, or the give-up an operator must act on. The error's type only:
    its text (kept on the row) may quote the recipient's address."""
    ids = {
        "notification_id": row.pk,
        "tenant_id": row.tenant_id,
        "attempts": row.attempts,
        "error_type": type(exc).__name__,
    }
    if row.attempts >= MAX_ATTEMPTS:
        logger.warning(
            "notification %s (tenant %s): giving up after %s failed attempts (%s); the relay will not send it again",
            row.pk,
            row.tenant_id,
            row.attempts,
            type(exc).__name__,
            extra=ids,
        )
    else:
        logger.info(
            "notification %s (tenant %s): attempt %s of %s failed (%s); the relay retries it",
            row.pk,
            row.tenant_id,
            row.attempts,
            MAX_ATTEMPTS,
            type(exc).__name__,
            extra=ids,
        )


def notifications_send(*, notification_ids: list[int]) -> int:
    """Mail each of these outbox rows, each in its own transaction; returns the messages sent."""
    return sum(notification_send(notification_id=pk) for pk in sorted(notification_ids))


def notifications_requeue(*, now: Any = None) -> int:
    """Queue again every unsent row older than ``REQUEUE_AFTER`` that has attempts left; returns how many.

    The outbox's relay: without it a message whose enqueue was lost after its
    transaction committed, or whose send failed, would never go out.
    """
    cutoff = (now or timezone.now()) - REQUEUE_AFTER
    stale = list(
        Notification.objects.filter(sent_at__isnull=True, created_at__lte=cutoff, attempts__lt=MAX_ATTEMPTS)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if stale:
        logger.info(
            "outbox relay: queueing %s unsent notifications again (ids %s to %s)",
            len(stale),
            stale[0],
            stale[-1],
            extra={"notifications": len(stale), "first_notification_id": stale[0], "last_notification_id": stale[-1]},
        )
    for start in range(0, len(stale), REQUEUE_BATCH):
        enqueue.notifications_send_now(notification_ids=stale[start : start + REQUEUE_BATCH])
    return len(stale)


def email_preference_set(*, user: Any, enabled: bool) -> NotificationSettings:
    prefs, _ = NotificationSettings.objects.update_or_create(user=user, defaults={"email_enabled": enabled})
    return prefs
