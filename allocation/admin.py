"""Django admin for every model, with the columns, filters and search an
operator uses. The audit trail is read-only here as in the database."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from allocation import models as m


class InventoryInline(admin.TabularInline):
    model = m.Inventory
    extra = 0
    autocomplete_fields = ["chip_type"]


@admin.register(m.Gigafactory)
class GigafactoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "status", "country", "city", "timezone"]
    list_filter = ["kind", "status", "country"]
    search_fields = ["name", "slug", "city"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [InventoryInline]


@admin.register(m.ChipType)
class ChipTypeAdmin(admin.ModelAdmin):
    list_display = ["__str__", "slug", "generation", "memory_gb", "peak_bf16_tflops", "tdp_watts", "throughput"]
    list_filter = ["vendor"]
    search_fields = ["vendor", "model", "slug"]


@admin.register(m.Inventory)
class InventoryAdmin(admin.ModelAdmin):
    list_display = ["__str__", "gigafactory", "chip_type", "chips_installed", "chips_in_service"]
    list_filter = ["gigafactory__kind", "chip_type", "gigafactory"]
    search_fields = ["gigafactory__name", "chip_type__model"]
    list_select_related = ["gigafactory", "chip_type"]


@admin.register(m.MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ["inventory", "chips", "starts_at", "ends_at", "reason"]
    list_filter = ["inventory__gigafactory"]
    date_hierarchy = "starts_at"
    list_select_related = ["inventory__gigafactory", "inventory__chip_type"]


class ContributionInline(admin.TabularInline):
    model = m.Contribution
    extra = 0


@admin.register(m.Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "pool"]
    list_filter = ["kind", "pool"]
    search_fields = ["name", "slug"]
    inlines = [ContributionInline]
    list_select_related = ["pool"]


@admin.register(m.Contribution)
class ContributionAdmin(admin.ModelAdmin):
    list_display = ["partner", "tranche", "amount_eur"]
    list_filter = ["tranche", "partner__kind"]
    search_fields = ["partner__name"]
    list_select_related = ["partner"]


@admin.register(m.Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_public"]
    list_filter = ["is_public"]
    search_fields = ["name", "slug"]


class MembershipInline(admin.TabularInline):
    model = m.Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(m.Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Verification is read-only here: it changes through the actions, which call
    ``tenant_verification_change`` (audited, members told, a reason for a suspension)."""

    list_display = ["name", "kind", "country", "pool", "weight", "verification", "created_at"]
    list_filter = ["kind", "verification", "pool", "country"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]
    list_select_related = ["pool"]
    readonly_fields = ["verification"]
    actions = ["verify", "suspend"]

    @admin.action(description=gettext_lazy("Verify (or reinstate) selected tenants"))
    def verify(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._change_verification(request, queryset, m.Verification.VERIFIED)

    @admin.action(description=gettext_lazy("Suspend selected tenants"))
    def suspend(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._change_verification(request, queryset, m.Verification.SUSPENDED)

    def _change_verification(self, request: HttpRequest, queryset: Any, to: str) -> HttpResponse | None:
        """First a page asking for the reason; then each tenant through the service, refusals listed."""
        from allocation.services.errors import NotAllowed, ServiceError
        from allocation.services.tenants import tenant_verification_change

        if "apply" not in request.POST:
            return TemplateResponse(request, "admin/allocation/tenant/change_verification.html", {
                **self.admin_site.each_context(request), "title": _("Change verification"), "tenants": queryset,
                "action": request.POST.get("action", ""), "to": m.Verification(to).label,
                "opts": self.model._meta, "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)})
        done, refused = 0, []
        for tenant in queryset:
            try:
                tenant_verification_change(actor=request.user, tenant=tenant, to=to,
                                           reason=request.POST.get("reason", ""))
                done += 1
            except ServiceError as exc:
                refused.append(f"{tenant}: {exc.message}")
            except NotAllowed as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                return None
        self.message_user(request, _("%(done)s tenant(s) now %(to)s.") % {
            "done": done, "to": m.Verification(to).label.lower()})
        if refused:
            self.message_user(request, " ".join(refused), level=messages.ERROR)
        return None


@admin.register(m.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role"]
    list_filter = ["role", "tenant__kind", "tenant__verification"]
    search_fields = ["user__username", "user__email", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]
    list_select_related = ["user", "tenant"]


@admin.register(m.GlobalRole)
class GlobalRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "role"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]
    list_select_related = ["user"]


@admin.register(m.AllocationPeriod)
class AllocationPeriodAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "starts_at", "ends_at", "request_deadline", "status"]
    list_filter = ["status"]
    search_fields = ["name", "slug"]


@admin.register(m.AllocationRequest)
class AllocationRequestAdmin(admin.ModelAdmin):
    list_display = ["title", "tenant", "period", "chip_type", "demand_gpu_hours",
                    "demand_normalized_hours", "status", "accepted_normalized_hours", "submitted_at"]
    list_filter = ["status", "period", "tenant__kind", "chip_type"]
    search_fields = ["title", "tenant__name"]
    list_select_related = ["tenant", "period", "chip_type"]
    raw_id_fields = ["tenant", "created_by", "decided_by"]


@admin.register(m.AllocationRound)
class AllocationRoundAdmin(admin.ModelAdmin):
    list_display = ["id", "period", "status", "created_by", "created_at", "committed_at"]
    list_filter = ["status", "period"]
    list_select_related = ["period", "created_by"]


@admin.register(m.Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["tenant", "period", "inventory", "gpu_hours", "normalized_hours", "round"]
    list_filter = ["period", "round__status", "inventory__gigafactory"]
    search_fields = ["tenant__name"]
    list_select_related = ["tenant", "period", "inventory__gigafactory", "inventory__chip_type", "round"]
    raw_id_fields = ["tenant", "request", "round"]


@admin.register(m.Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["id", "tenant", "kind", "status", "inventory", "chips", "hours", "starts_at", "submitted_at"]
    list_filter = ["status", "kind", "inventory__gigafactory"]
    search_fields = ["tenant__name", "idempotency_key"]
    date_hierarchy = "submitted_at"
    list_select_related = ["tenant", "inventory__gigafactory", "inventory__chip_type"]
    raw_id_fields = ["tenant", "created_by", "inventory"]
    actions = ["reconfirm_at_risk"]

    @admin.action(description="Re-confirm selected at-risk bookings whose chips are back in service")
    def reconfirm_at_risk(self, request: HttpRequest, queryset: Any) -> None:
        from allocation.services.errors import NotAllowed, ServiceError
        from allocation.services.operations import booking_at_risk_resolve

        done, refused = 0, []
        for booking in queryset.filter(status=m.BookingStatus.AT_RISK):
            try:
                booking_at_risk_resolve(actor=request.user, booking=booking)
                done += 1
            except ServiceError as exc:
                refused.append(f"#{booking.pk}: {exc.message}")
            except NotAllowed as exc:
                self.message_user(request, str(exc), level="error")
                return
        self.message_user(request, f"{done} booking(s) confirmed again." + (" Still short: " + "; ".join(refused)
                                                                            if refused else ""))


@admin.register(m.UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = ["record_id", "tenant", "booking", "at", "gpu_hours", "normalized_hours"]
    list_filter = ["booking__inventory__gigafactory"]
    search_fields = ["record_id", "tenant__name"]
    date_hierarchy = "at"
    list_select_related = ["tenant", "booking"]
    raw_id_fields = ["booking", "tenant", "reported_by"]


@admin.register(m.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id", "tenant"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor__username", "tenant__name"]
    date_hierarchy = "at"
    list_select_related = ["actor", "tenant"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(m.Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "seen_at", "beats"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledgers are written by services only; the admin shows them."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(m.ResourceHour)
class ResourceHourAdmin(ReadOnlyAdmin):
    list_display = ["inventory", "hour", "capacity", "booked", "at_risk"]
    list_filter = ["inventory__gigafactory", "inventory__chip_type"]
    date_hierarchy = "hour"
    list_select_related = ["inventory__gigafactory", "inventory__chip_type"]


@admin.register(m.QuotaBalance)
class QuotaBalanceAdmin(ReadOnlyAdmin):
    list_display = ["tenant", "period", "granted", "used"]
    list_filter = ["period"]
    search_fields = ["tenant__name"]
    list_select_related = ["tenant", "period"]


@admin.register(m.NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    list_display = ["user", "email_enabled"]
    list_filter = ["email_enabled"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]


@admin.register(m.Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """The e-mail outbox: what went to whom and when; an unsent row is queued, failing (see its
    attempts and last error) or lost."""

    list_display = ["created_at", "tenant", "user", "subject", "sent_at", "attempts"]
    list_filter = [("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject", "tenant__name", "user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant", "user"]


@admin.register(m.IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    """The answers kept for retried creates; written only with the create they answer for."""

    list_display = ["created_at", "user", "scope", "key", "response_status"]
    list_filter = ["scope"]
    search_fields = ["key", "user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
