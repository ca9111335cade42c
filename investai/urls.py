"""Top-level URLs: admin, the REST API under /api/v1/, health, and the pages."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from allocation.web.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("allocation.api.urls")),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("allocation.web.urls")),
]
