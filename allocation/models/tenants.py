"""Tenants (organisations that compute), their members and global roles.

Invariants:
- a tenant belongs to exactly one pool and has a positive weight;
- a user holds at most one role per tenant and each global role once;
- verification moves only through ``allocation.services.tenants``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from allocation.models.partners import Pool


class TenantKind(models.TextChoices):
    STARTUP = "startup", _("Startup")
    SME = "sme", _("SME")
    RESEARCHER = "researcher", _("Researcher (academic)")
    LARGE_ENTERPRISE = "large_enterprise", _("Large enterprise")
    PUBLIC_BODY = "public_body", _("Public body")


class Verification(models.TextChoices):
    PENDING = "pending", _("Pending")
    VERIFIED = "verified", _("Verified")
    SUSPENDED = "suspended", _("Suspended")


class Tenant(models.Model):
    name = models.CharField(_("name"), max_length=160)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=TenantKind.choices)
    country = models.CharField(_("country"), max_length=2)
    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="tenants", verbose_name=_("pool"))
    weight = models.FloatField(_("weight"), default=1.0)
    verification = models.CharField(
        _("verification"), max_length=12, choices=Verification.choices, default=Verification.PENDING
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="tenant_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class MemberRole(models.TextChoices):
    PI = "pi", _("Principal investigator")
    MEMBER = "member", _("Member")


class Membership(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=8, choices=MemberRole.choices, default=MemberRole.MEMBER)

    class Meta:
        ordering = ["tenant__name", "role"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_once_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) @ {self.tenant}"


class RoleKind(models.TextChoices):
    COMMITTEE = "committee", _("Allocation committee member")
    OPERATOR = "operator", _("Site operator")
    ADMIN = "admin", _("Platform admin")


class GlobalRole(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="global_roles")
    role = models.CharField(_("role"), max_length=12, choices=RoleKind.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="global_role_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.role}"


class NotificationSettings(models.Model):
    """Per-user e-mail preference; a user without a row gets e-mail."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    email_enabled = models.BooleanField(_("e-mail me about requests, decisions and grants"), default=True)

    def __str__(self) -> str:
        return f"{self.user}: e-mail {'on' if self.email_enabled else 'off'}"
