"""Who may do what: one place, shared by the API and the pages.

Invariants: every function takes the acting user first and answers a bool;
platform admins may do everything a committee member or operator may.
Tenant-scoped objects a user may not see are reported as absent (404) by the
callers, never as forbidden, so ids do not leak.
"""

from __future__ import annotations

from typing import Any

from allocation.models import GlobalRole, MemberRole, Membership, RoleKind, Tenant


def _has_role(user: Any, *roles: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    return GlobalRole.objects.filter(user=user, role__in=[*roles, RoleKind.ADMIN]).exists()


def is_committee(user: Any) -> bool:
    return _has_role(user, RoleKind.COMMITTEE)


def is_operator(user: Any) -> bool:
    return _has_role(user, RoleKind.OPERATOR)


def is_platform_admin(user: Any) -> bool:
    return _has_role(user, RoleKind.ADMIN)


def is_member(user: Any, tenant_id: int) -> bool:
    return Membership.objects.filter(user=user, tenant_id=tenant_id).exists()


def is_member_of(user: Any, tenant: Tenant) -> bool:
    """``is_member`` for a tenant row: one the API looked up among this user's own
    tenants carries ``member_user_id`` (see ``TenantOfUserField``), so asking again costs a query for nothing."""
    user_id = getattr(user, "pk", None)
    if user_id is not None and getattr(tenant, "member_user_id", None) == user_id:
        return True
    return is_member(user, tenant.pk)


def is_pi(user: Any, tenant_id: int) -> bool:
    return Membership.objects.filter(user=user, tenant_id=tenant_id, role=MemberRole.PI).exists()
