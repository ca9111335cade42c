"""The e-mail outbox: one row per message to one member of a tenant.

Invariants:
- a row is written inside the transaction of the change it tells about, so a
  rolled-back change leaves no row and mails no one;
- one row is one e-mail to one person, so a failure mails nobody twice: a
  refused address or a mail server gone mid-batch fails only its own rows;
- ``sent_at`` is set in the same transaction as the send
  (``allocation.services.notifications``), so a row is mailed at most once
  unless the process dies between the mail server accepting it and that
  commit; ``sent_at`` null means not sent yet, and ``attempts`` counts the
  sends that failed (the relay gives up after a few; ``last_error`` says why).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from allocation.models.tenants import Tenant


class Notification(models.Model):
    # Only operators see these rows (in the admin, like Heartbeat's), so the labels stay untranslated.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="notifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    # Subjects carry request titles (200 characters) and bodies list whole batches of bookings.
    subject = models.TextField()
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        # The relay looks for old unsent rows every few minutes; sent ones are nearly all of the table.
        indexes = [models.Index(fields=["created_at"], condition=Q(sent_at__isnull=True), name="notification_unsent")]

    def __str__(self) -> str:
        return self.subject
