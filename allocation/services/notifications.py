"""E-mail to a tenant's members about their requests, decisions and grants.

Invariants: mail is queued only after the surrounding transaction commits (a
rolled-back decision never mails anyone); members who opted out get nothing;
the sending itself happens in a Celery task, never in a web request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction

from allocation.models import Membership, NotificationSettings


def notify_tenant(*, tenant_id: int, subject: str, body: str) -> None:
    from allocation.tasks import tenant_email_send

    transaction.on_commit(lambda: tenant_email_send.delay(tenant_id, subject, body))


def recipients(*, tenant_id: int) -> list[str]:
    opted_out = NotificationSettings.objects.filter(email_enabled=False).values("user_id")
    return sorted(
        Membership.objects.filter(tenant_id=tenant_id)
        .exclude(user_id__in=opted_out)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )


def tenant_email_send(*, tenant_id: int, subject: str, body: str) -> int:
    messages = [
        (f"[InvestAI] {subject}", f"{body}\n\n{settings.SITE_URL}/\n", settings.DEFAULT_FROM_EMAIL, [address])
        for address in recipients(tenant_id=tenant_id)
    ]
    return send_mass_mail(messages, fail_silently=False) if messages else 0


def email_preference_set(*, user: Any, enabled: bool) -> NotificationSettings:
    prefs, _ = NotificationSettings.objects.update_or_create(user=user, defaults={"email_enabled": enabled})
    return prefs
