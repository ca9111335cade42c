"""Partners of the public-private partnership, their contributions and pools.

Invariants:
- exactly one pool is the public pool (startups, SMEs, researchers); public
  partners (EU programmes, member states) fund it, each private partner buys
  a pool of its own;
- contributions are never negative and there is one per partner and tranche;
- pool weights are derived from contributions by
  ``allocation.selectors.pool_weights`` (never stored, so never stale).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class PartnerKind(models.TextChoices):
    EU_PROGRAMME = "eu_programme", _("EU programme")
    MEMBER_STATE = "member_state", _("Member state")
    COMPANY = "company", _("Company")
    INVESTOR = "investor", _("Investor")


PUBLIC_PARTNER_KINDS = frozenset({PartnerKind.EU_PROGRAMME, PartnerKind.MEMBER_STATE})


class Tranche(models.TextChoices):
    SENIOR = "senior", _("Senior")
    MEZZANINE = "mezzanine", _("Mezzanine")
    EQUITY = "equity", _("Equity")


class Pool(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=40, unique=True)
    is_public = models.BooleanField(_("public pool"), default=False)

    class Meta:
        ordering = ["-is_public", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["is_public"], condition=Q(is_public=True), name="pool_one_public"),
        ]

    def __str__(self) -> str:
        return self.name


class Partner(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=PartnerKind.choices)
    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="partners", verbose_name=_("pool"))

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        return self.kind in PUBLIC_PARTNER_KINDS


class Contribution(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="contributions")
    tranche = models.CharField(_("tranche"), max_length=16, choices=Tranche.choices)
    amount_eur = models.DecimalField(_("amount (EUR)"), max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["partner__slug", "tranche"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "tranche"], name="contribution_one_per_tranche"),
            models.CheckConstraint(condition=Q(amount_eur__gte=Decimal(0)), name="contribution_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.partner.slug} {self.tranche}: EUR {self.amount_eur:,.0f}"
