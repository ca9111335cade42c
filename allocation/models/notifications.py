"""The e-mail outbox: one row per message to a tenant's members.

Invariants:
- a row is written inside the transaction of the change it tells about, so a
  rolled-back change leaves no row and mails no one;
- ``sent_at`` is set in the same transaction as the send
  (``allocation.services.notifications``), so a row is mailed at most once
  unless the process dies between the mail server accepting it and that
  commit; ``sent_at`` null means not sent yet.
"""

from __future__ import annotations

from django.db import models

from allocation.models.tenants import Tenant


class Notification(models.Model):
    # Only operators see these rows (in the admin, like Heartbeat's), so the labels stay untranslated.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="notifications")
    # Subjects carry request titles (200 characters) and bodies list whole batches of bookings.
    subject = models.TextField()
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Members it went to, counted at send time: opting out later does not rewrite history.
    recipients = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject
