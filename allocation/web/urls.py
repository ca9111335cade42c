"""Server-rendered pages."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from allocation.web import bookings, committee, maintenance, operations, pages, requests

urlpatterns = [
    path("", pages.home, name="home"),
    path("sites/", pages.site_list, name="site-list"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # A tenant's requests and settings.
    path("requests/", requests.request_list, name="request-list"),
    path("requests/new/", requests.request_create, name="request-create"),
    path("requests/<int:pk>/", requests.request_detail, name="request-detail"),
    path("requests/<int:pk>/edit/", requests.request_edit, name="request-edit"),
    path("requests/<int:pk>/submit/", requests.request_submit, name="request-submit"),
    path("requests/<int:pk>/withdraw/", requests.request_withdraw, name="request-withdraw"),
    path("settings/", requests.settings_page, name="settings"),
    # The allocation committee.
    path("committee/", committee.committee_home, name="committee-home"),
    path("committee/periods/<slug:slug>/review/", committee.review_queue, name="review-queue"),
    path("committee/requests/<int:pk>/decide/", committee.request_decision, name="request-decide"),
    path("committee/periods/<slug:slug>/rounds/", committee.round_period, name="round-period"),
    path("committee/periods/<slug:slug>/rounds/preview/", committee.round_preview, name="round-preview"),
    path("committee/rounds/<int:pk>/", committee.round_detail, name="round-detail"),
    path("committee/rounds/<int:pk>/status/", committee.round_status, name="round-status"),
    path("committee/rounds/<int:pk>/commit/", committee.round_commit, name="round-commit"),
    path("committee/rounds/<int:pk>/discard/", committee.round_discard, name="round-discard"),
    path("audit/", committee.audit_list, name="audit-list"),
    # Bookings: book chips, my bookings, one booking, a resource's timeline (issue 5).
    path("bookings/", bookings.booking_list, name="booking-list"),
    path("bookings/new/", bookings.booking_new, name="booking-new"),
    path("bookings/new/flexible/", bookings.booking_new_flexible, name="booking-new-flexible"),
    path("bookings/availability/", bookings.booking_availability, name="booking-availability"),
    path("bookings/<int:pk>/", bookings.booking_detail, name="booking-detail"),
    path("bookings/<int:pk>/cancel/", bookings.booking_cancel_view, name="booking-cancel"),
    path("operations/bookings/", operations.operations_bookings, name="operations-bookings"),
    # Maintenance and the bookings it puts at risk (issue 11).
    path("operations/maintenance/", maintenance.maintenance_list, name="maintenance-list"),
    path("operations/maintenance/<int:pk>/", maintenance.maintenance_detail, name="maintenance-detail"),
    path("operations/maintenance/<int:pk>/end/", maintenance.maintenance_end_view, name="maintenance-end"),
    path("operations/at-risk/", maintenance.at_risk_list, name="at-risk-list"),
    path("operations/at-risk/<int:pk>/reconfirm/", maintenance.at_risk_reconfirm, name="at-risk-reconfirm"),
    path("operations/at-risk/<int:pk>/move/", maintenance.at_risk_move, name="at-risk-move"),
    path("operations/at-risk/<int:pk>/cancel/", maintenance.at_risk_cancel, name="at-risk-cancel"),
    path("resources/<slug:site>/<slug:chip>/timeline/", bookings.resource_timeline, name="resource-timeline"),
    path(
        "resources/<slug:site>/<slug:chip>/timeline.svg",
        bookings.resource_timeline,
        {"fmt": "svg"},
        name="resource-timeline-svg",
    ),
]
