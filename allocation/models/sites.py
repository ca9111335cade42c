"""Sites, chip types and what is installed where.

Invariants (enforced by the database, not by Python):
- slugs are unique; chip counts and figures are never negative;
- chips in service never exceed chips installed;
- one inventory row per (gigafactory, chip type): that pair is a *resource*;
- a maintenance window ends after it starts and takes at least one chip.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class GigafactoryKind(models.TextChoices):
    GIGAFACTORY = "gigafactory", _("AI gigafactory")
    FACTORY = "factory", _("AI factory")


class GigafactoryStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    BUILDING = "building", _("Under construction")
    OPERATIONAL = "operational", _("Operational")


class Gigafactory(models.Model):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=40, unique=True)
    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166 code"))
    city = models.CharField(_("city"), max_length=80)
    kind = models.CharField(_("kind"), max_length=16, choices=GigafactoryKind.choices)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=GigafactoryStatus.choices,
        default=GigafactoryStatus.OPERATIONAL,
    )
    timezone = models.CharField(_("timezone"), max_length=64, default="Europe/Brussels")

    class Meta:
        ordering = ["slug"]
        verbose_name = _("gigafactory")
        verbose_name_plural = _("gigafactories")

    def __str__(self) -> str:
        return self.name


class ChipType(models.Model):
    vendor = models.CharField(_("vendor"), max_length=60)
    model = models.CharField(_("model"), max_length=60)
    slug = models.SlugField(_("slug"), max_length=40, unique=True)
    generation = models.CharField(_("generation"), max_length=40, blank=True)
    memory_gb = models.PositiveIntegerField(_("memory (GB)"))
    peak_bf16_tflops = models.FloatField(_("peak BF16 TFLOPS"))
    tdp_watts = models.PositiveIntegerField(_("TDP (W)"))
    throughput = models.FloatField(_("throughput"), help_text=_("Training throughput relative to one H100 (= 1.0)."))

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(throughput__gt=0), name="chiptype_throughput_positive"),
            models.CheckConstraint(condition=Q(peak_bf16_tflops__gte=0), name="chiptype_tflops_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.model}"


class Inventory(models.Model):
    """A resource: one chip type at one site, with its installed chips."""

    gigafactory = models.ForeignKey(
        Gigafactory, on_delete=models.PROTECT, related_name="inventory", verbose_name=_("site")
    )
    chip_type = models.ForeignKey(
        ChipType, on_delete=models.PROTECT, related_name="inventory", verbose_name=_("chip type")
    )
    chips_installed = models.IntegerField(_("chips installed"))
    chips_in_service = models.IntegerField(_("chips in service"))

    class Meta:
        ordering = ["gigafactory__slug", "chip_type__slug"]
        verbose_name_plural = _("inventory")
        constraints = [
            models.UniqueConstraint(fields=["gigafactory", "chip_type"], name="inventory_one_per_resource"),
            models.CheckConstraint(condition=Q(chips_installed__gte=0), name="inventory_installed_nonneg"),
            models.CheckConstraint(condition=Q(chips_in_service__gte=0), name="inventory_in_service_nonneg"),
            models.CheckConstraint(
                condition=Q(chips_in_service__lte=F("chips_installed")),
                name="inventory_in_service_le_installed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gigafactory.slug}/{self.chip_type.slug}"


class MaintenanceWindow(models.Model):
    inventory = models.ForeignKey(
        Inventory, on_delete=models.CASCADE, related_name="maintenance", verbose_name=_("resource")
    )
    chips = models.IntegerField(_("chips out of service"))
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(chips__gt=0), name="maintenance_chips_positive"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="maintenance_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.inventory}: {self.chips} chips {self.starts_at:%Y-%m-%d}"
