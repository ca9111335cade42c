"""The domain app: sites, pools, tenants, requests, quotas, bookings, audit."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AllocationConfig(AppConfig):
    name = "allocation"
    verbose_name = _("Compute allocation")
    default_auto_field = "django.db.models.BigAutoField"
