"""Who the user is: global roles, memberships and the tenants they belong to."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from allocation.models import GlobalRole, Membership, Tenant


def global_roles(*, user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(GlobalRole.objects.filter(user=user).values_list("role", flat=True))


def memberships_of(*, user: Any) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def tenants_of(*, user: Any) -> QuerySet[Tenant]:
    return Tenant.objects.filter(memberships__user=user).select_related("pool")
