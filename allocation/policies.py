"""Who may do what: one place, shared by the API and the pages.

Invariants: every function takes the acting user first and answers a bool,
except the ``tenant_*`` ones, which take the tenant row (its status binds all
its members alike) and never query: callers pass a row they already read;
platform admins may do everything a committee member or operator may.
Tenant-scoped objects a user may not see are reported as absent (404) by the
callers, never as forbidden, so ids do not leak.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from allocation.models import (
    AllocationRequest,
    Booking,
    BookingStatus,
    GlobalRole,
    MemberRole,
    Membership,
    RequestStatus,
    RoleKind,
    Tenant,
    Verification,
)


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


# --- The tenant's verification status -------------------------------------
# Only a verified tenant spends capacity, quota or fair share: it submits requests, books and has
# usage recorded. A pending one may draft and edit requests while it is being checked (the demo's
# pending tenants hold drafts only); a suspended one writes nothing. Withdrawing and cancelling
# stay open to both: they only give back.


def tenant_may_draft(tenant: Tenant) -> bool:
    """Create and edit draft requests."""
    return tenant.verification != Verification.SUSPENDED


def tenant_may_commit(tenant: Tenant) -> bool:
    """Submit requests, book (fixed or flexible) and have usage recorded for its bookings."""
    return tenant.verification == Verification.VERIFIED


def tenant_refusal(tenant: Tenant) -> str:
    """Why ``tenant`` may not do what the two rules above refused, for the 403 and the pages."""
    if tenant.verification == Verification.SUSPENDED:
        return _(
            "%(tenant)s is suspended: it cannot request compute, book or have usage recorded. "
            "Contact the platform administrators."
        ) % {"tenant": tenant.name}
    return _(
        "%(tenant)s is not verified yet: it can draft requests, but submits them, books and has usage "
        "recorded only once the platform administrators have verified it."
    ) % {"tenant": tenant.name}


# --- What a user may do to one request or booking ---------------------------
# The pages show a button and the API a flag only where these say yes; the services enforce the
# same rules (and the transition functions the states), so an answer here never grants more.

# The states from which services.bookings.TRANSITIONS reaches CANCELLED (a test keeps them equal).
BOOKING_CANCELLABLE = frozenset(
    {BookingStatus.PENDING, BookingStatus.CONFIRMED, BookingStatus.ACTIVE, BookingStatus.AT_RISK}
)
REQUEST_WITHDRAWABLE = frozenset({RequestStatus.DRAFT, RequestStatus.SUBMITTED})


def can_cancel_booking(user: Any, booking: Booking) -> bool:
    """A booking still running or to come, by its tenant's members or an operator."""
    return booking.status in BOOKING_CANCELLABLE and (is_member(user, booking.tenant_id) or is_operator(user))


def can_edit_request(user: Any, request: AllocationRequest) -> bool:
    """A draft, by its tenant's members while the tenant may draft."""
    return (
        request.status == RequestStatus.DRAFT
        and is_member(user, request.tenant_id)
        and tenant_may_draft(request.tenant)
    )


def can_submit_request(user: Any, request: AllocationRequest) -> bool:
    """A draft, by its tenant's PI once the tenant is verified."""
    return (
        request.status == RequestStatus.DRAFT and is_pi(user, request.tenant_id) and tenant_may_commit(request.tenant)
    )


def can_withdraw_request(user: Any, request: AllocationRequest) -> bool:
    """A draft or a submitted request not yet decided, by its tenant's members."""
    return request.status in REQUEST_WITHDRAWABLE and is_member(user, request.tenant_id)
