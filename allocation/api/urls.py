"""The REST API, version 1: schema, docs, token login and the resources."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from allocation.api.views.audit import AuditEventViewSet
from allocation.api.views.bookings import BookingViewSet, FairShareView
from allocation.api.views.grants import GrantViewSet
from allocation.api.views.maintenance import MaintenanceWindowViewSet
from allocation.api.views.me import MeView, TokenView
from allocation.api.views.periods import PeriodViewSet
from allocation.api.views.quotas import QuotaViewSet
from allocation.api.views.requests import AllocationRequestViewSet
from allocation.api.views.resources import AvailabilityView, ResourceViewSet
from allocation.api.views.rounds import AllocationRoundViewSet
from allocation.api.views.usage import UsageRecordViewSet


class DocsView(SpectacularSwaggerView):
    """The Swagger UI page. OPTIONS answers with the allowed methods alone: the page's only
    renderer is its HTML template, which has nothing to show for OPTIONS' metadata (a 500 before)."""

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return HttpResponse(status=200)


router = SimpleRouter()
router.register("periods", PeriodViewSet, basename="period")
router.register("allocation-requests", AllocationRequestViewSet, basename="allocation-request")
router.register("quotas", QuotaViewSet, basename="quota")
router.register("grants", GrantViewSet, basename="grant")
router.register("allocation-rounds", AllocationRoundViewSet, basename="allocation-round")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("resources", ResourceViewSet, basename="resource")
router.register("bookings", BookingViewSet, basename="booking")
router.register("usage-records", UsageRecordViewSet, basename="usage-record")
router.register("maintenance-windows", MaintenanceWindowViewSet, basename="maintenance-window")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("me/", MeView.as_view(), name="api-me"),
    path("availability/", AvailabilityView.as_view(), name="api-availability"),
    path("fair-share/", FairShareView.as_view(), name="api-fair-share"),
    *router.urls,
]
