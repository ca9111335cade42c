"""Write the audit trail.

Invariants: every state change a service makes writes exactly one event in
the same transaction as the change (so a rolled-back change leaves no event
and a committed one always has its event); before/after hold JSON-safe
snapshots of the fields that changed.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from allocation.models import AuditEvent, Tenant


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    return {name: _json_safe(getattr(obj, name)) for name in fields}


def audit_event(
    *,
    actor: Any,
    action: str,
    obj: models.Model,
    tenant: Tenant | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """The event, unsaved: for a caller that writes it in the same statement as the change itself."""
    return AuditEvent(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.model_name or type(obj).__name__.lower(),
        object_id=str(obj.pk),
        tenant=tenant,
        before=before,
        after=after,
    )


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model,
    tenant: Tenant | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    event = audit_event(actor=actor, action=action, obj=obj, tenant=tenant, before=before, after=after)
    event.save(force_insert=True)
    return event
