"""Tenants' verification: the one way a tenant becomes verified or suspended.

Invariants:
- ``verification`` changes only in ``tenant_verification_change``, along
  pending -> verified | suspended, verified -> suspended, suspended -> verified
  (reinstated); anything else is refused;
- only platform admins change it, always with an audit event (before, after,
  the reason) and a message to the tenant's members in the same transaction;
- what each status may do is ``allocation.policies``' ``tenant_*`` rules; the
  services that write for a tenant call ``tenant_require_*`` here first.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from allocation import policies
from allocation.models import Tenant, Verification
from allocation.services.audit import audit_record
from allocation.services.errors import NotAllowed, ServiceError
from allocation.services.notifications import tenant_notify

TRANSITIONS: dict[str, set[str]] = {
    Verification.PENDING: {Verification.VERIFIED, Verification.SUSPENDED},
    Verification.VERIFIED: {Verification.SUSPENDED},
    Verification.SUSPENDED: {Verification.VERIFIED},
}
MAX_REASON = 500


def tenant_require_draft(tenant: Tenant) -> None:
    """Refuse (403) a tenant that may not draft or edit requests."""
    if not policies.tenant_may_draft(tenant):
        raise NotAllowed(policies.tenant_refusal(tenant))


def tenant_require_commit(tenant: Tenant) -> None:
    """Refuse (403) a tenant that may not submit, book or have usage recorded."""
    if not policies.tenant_may_commit(tenant):
        raise NotAllowed(policies.tenant_refusal(tenant))


def verification_transition(tenant: Tenant, to: str) -> None:
    """The one place a tenant's verification changes."""
    if to not in TRANSITIONS.get(tenant.verification, set()):
        raise ServiceError(
            "verification",
            _("A %(was)s tenant cannot become %(to)s.")
            % {"was": Verification(tenant.verification).label.lower(), "to": Verification(to).label.lower()},
            code="invalid_transition",
        )
    tenant.verification = to


_TOLD = {
    Verification.VERIFIED: (
        gettext_lazy("%(tenant)s is verified"),
        gettext_lazy(
            "The platform administrators verified %(tenant)s: its members can now submit requests and book compute."
        ),
    ),
    Verification.SUSPENDED: (
        gettext_lazy("%(tenant)s is suspended"),
        gettext_lazy(
            "The platform administrators suspended %(tenant)s: until it is reinstated "
            "it cannot request compute, book or have usage recorded. Bookings already "
            "made stay; you may cancel them."
        ),
    ),
}


@transaction.atomic
def tenant_verification_change(*, actor: Any, tenant: Tenant, to: str, reason: str = "") -> Tenant:
    """Verify, suspend or reinstate a tenant; audited, and its members are told why."""
    if not policies.is_platform_admin(actor):
        raise NotAllowed(_("Only platform administrators verify or suspend tenants."))
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise ServiceError("reason", _("Keep the reason to %(max)s characters.") % {"max": MAX_REASON})
    if to == Verification.SUSPENDED and not reason:
        raise ServiceError("reason", _("Say why the tenant is suspended."))
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = {"verification": tenant.verification}
    verification_transition(tenant, to)
    tenant.save(update_fields=["verification"])
    audit_record(
        actor=actor,
        action=f"tenant.{to}",
        obj=tenant,
        tenant=tenant,
        before=before,
        after={"verification": tenant.verification, "reason": reason},
    )
    subject, body = _TOLD[Verification(to)]
    named = {"tenant": tenant.name}
    tenant_notify(
        tenant_id=tenant.pk,
        subject=str(subject) % named,
        body=str(body) % named + ("\n" + _("Reason: %(reason)s") % {"reason": reason} if reason else ""),
    )
    return tenant
