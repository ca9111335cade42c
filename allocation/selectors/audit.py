"""The audit trail: who sees which events."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from allocation import policies
from allocation.models import AuditEvent


def audit_visible_to(*, user: Any) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("actor", "tenant")
    if policies.is_committee(user):
        return qs
    return qs.filter(tenant__memberships__user=user)
