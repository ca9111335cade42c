"""Usage records: who sees which."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from allocation import policies
from allocation.models import UsageRecord
from allocation.selectors.roles import tenants_of


def usage_visible_to(*, user: Any) -> QuerySet[UsageRecord]:
    """Operators see every usage record (they report it); members their tenants'."""
    qs = UsageRecord.objects.select_related(
        "tenant", "reported_by", "booking__inventory__gigafactory", "booking__inventory__chip_type", "corrects"
    )
    if policies.is_operator(user):
        return qs
    return qs.filter(tenant__in=tenants_of(user=user))
