"""No side doors: every write that touches capacity, quota, grants or usage goes through a service.

While a test drives the admin or the API, receivers on the models that hold
capacity, quota, grants or usage record every save or delete made with no
frame of ``allocation.services`` on the call stack. The tests enumerate every
registered ModelAdmin (``admin.site._registry``) and every writing API
endpoint (the URL resolver: each POST, PUT, PATCH and DELETE), drive each
with valid data, and find no such write; the models that must be read-only in
the admin refuse add, change and delete. A new admin or endpoint fails here
until it is driven too. Item 1 of issue 11 is replayed through the admin.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.db.models import signals
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import TokenProxy

from allocation import models as m
from allocation.services import ledger
from allocation.services.bookings import booking_fixed_create
from allocation.services.errors import Conflict
from allocation.services.maintenance import maintenance_announce
from allocation.services.usage import usage_records_report
from tests.api import client_for, request_body
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
START = datetime(2027, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)

# What holds capacity, quota, grants or usage (and what decides them: requests, rounds).
GUARDED = [
    m.Inventory,
    m.MaintenanceWindow,
    m.ResourceHour,
    m.QuotaBalance,
    m.Quota,
    m.Booking,
    m.UsageRecord,
    m.AllocationRound,
    m.AllocationRequest,
]
READ_ONLY_IN_ADMIN = {
    m.ResourceHour,
    m.QuotaBalance,
    m.Quota,
    m.Booking,
    m.UsageRecord,
    m.AllocationRound,
    m.AllocationRequest,
    m.AuditEvent,
    m.Notification,
    m.IdempotencyKey,
}
WRITING = ("post", "put", "patch", "delete")


@contextmanager
def side_doors() -> Iterator[list[str]]:
    """The writes to guarded models made meanwhile outside ``allocation.services``."""
    found: list[str] = []

    def check(sender: Any, instance: Any = None, signal: Any = None, **kwargs: Any) -> None:
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_globals.get("__name__", "").startswith("allocation.services"):
                return
            frame = frame.f_back  # type: ignore[assignment]
        what = "delete" if signal is signals.pre_delete else "m2m" if signal is signals.m2m_changed else "save"
        found.append(f"{what} {sender.__name__} {getattr(instance, 'pk', '')}")

    hooks = [(signals.pre_save, model) for model in GUARDED] + [(signals.pre_delete, model) for model in GUARDED]
    hooks += [(signals.m2m_changed, m.Booking.eligible.through)]
    for signal, model in hooks:
        signal.connect(check, sender=model, weak=False, dispatch_uid=f"side-door-{model.__name__}")
    try:
        yield found
    finally:
        for signal, model in hooks:
            signal.disconnect(sender=model, dispatch_uid=f"side-door-{model.__name__}")


def test_the_probe_catches_a_write_outside_the_services(catalogue: Any, oscar: Any) -> None:
    """The probe can fail: a direct write (what the admin did before) is caught, a service's is not."""
    with side_doors() as found:
        m.MaintenanceWindow.objects.create(inventory=catalogue.lux_h100, chips=5, starts_at=START, ends_at=START + H)
        maintenance_announce(actor=oscar, inventory=catalogue.lux_h100, chips=5, starts_at=START, ends_at=START + H)
    assert len(found) == 1 and found[0].startswith("save MaintenanceWindow")


# --- the admin --------------------------------------------------------------------------------


def _form_data(form: forms.BaseForm) -> dict[str, Any]:
    """What a browser would post back for the form as rendered (its initial or bound values)."""
    data: dict[str, Any] = {}
    for bound in form:
        if bound.field.disabled:
            continue
        value, widget, name = bound.value(), bound.field.widget, bound.html_name
        if isinstance(widget, forms.MultiWidget):
            parts = value if isinstance(value, list) else widget.decompress(value)
            for suffix, sub, part in zip(widget.widgets_names, widget.widgets, parts, strict=True):
                formatted = sub.format_value(part)
                data[f"{name}{suffix}"] = "" if formatted is None else formatted
        elif isinstance(widget, forms.CheckboxInput):
            if value:
                data[name] = "on"
        elif getattr(getattr(widget, "widget", widget), "allow_multiple_selected", False):
            data[name] = [str(getattr(v, "pk", v)) for v in value or []]
        else:
            formatted = widget.format_value(value)
            data[name] = "" if formatted is None else formatted
    return data


def _page_data(response: Any) -> dict[str, Any]:
    """The whole admin change form as rendered: the object's fields and every inline's forms."""
    data = _form_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data.update(_form_data(inline.formset.management_form))
        for form in inline.formset.forms:
            data.update(_form_data(form))
    return data


def _errors(response: Any) -> Any:
    if response.context is None or "adminform" not in response.context:
        return response.status_code
    return (
        response.context["adminform"].form.errors,
        [inline.formset.errors for inline in response.context["inline_admin_formsets"]],
    )


def _split(moment: datetime) -> dict[str, str]:
    return {"_0": f"{moment:%Y-%m-%d}", "_1": f"{moment:%H:%M:%S}"}


def _at(name: str, moment: datetime) -> dict[str, str]:
    return {f"{name}{suffix}": value for suffix, value in _split(moment).items()}


def admin_add_data(ctx: Any) -> dict[type, dict[str, Any]]:
    """Valid add-form values for every model the admin may add (on top of the form's defaults)."""
    c = ctx.catalogue
    return {
        Group: {"name": "ops"},
        User: {
            "username": "side-door",
            "password1": "an0ther-l0ng-passw0rd",
            "password2": "an0ther-l0ng-passw0rd",
            "usable_password": "true",
        },
        TokenProxy: {"user": str(ctx.spare_user.pk)},
        m.Gigafactory: {
            "name": "Side Door Factory",
            "slug": "sdf",
            "country": "FI",
            "city": "Kajaani",
            "kind": "factory",
            "status": "operational",
            "timezone": "Europe/Helsinki",
            "inventory-TOTAL_FORMS": "1",
            "inventory-INITIAL_FORMS": "0",
            "inventory-0-chip_type": str(c.h100.pk),
            "inventory-0-chips_installed": "64",
            "inventory-0-chips_in_service": "64",
        },
        m.ChipType: {
            "vendor": "AMD",
            "model": "MI300X",
            "slug": "mi300x",
            "memory_gb": "192",
            "peak_bf16_tflops": "1307",
            "tdp_watts": "750",
            "throughput": "1.2",
        },
        m.Inventory: {
            "gigafactory": str(c.lux.pk),
            "chip_type": str(c.b200.pk),
            "chips_installed": "40",
            "chips_in_service": "40",
        },
        m.MaintenanceWindow: {
            "inventory": str(c.lux_h100.pk),
            "chips": "30",
            **_at("starts_at", START),
            **_at("ends_at", START + 2 * H),
            "reason": "cooling",
        },
        m.Partner: {"name": "Side Door GmbH", "slug": "side-door", "kind": "company", "pool": str(c.acme_pool.pk)},
        m.Contribution: {"partner": str(ctx.partner.pk), "tranche": "equity", "amount_eur": "1000000"},
        m.Pool: {"name": "Side pool", "slug": "side-pool"},
        m.Tenant: {
            "name": "Side Door Lab",
            "slug": "side-door-lab",
            "kind": "researcher",
            "country": "DE",
            "pool": str(c.public_pool.pk),
            "weight": "1",
            "verification": "verified",
        },
        m.Membership: {"user": str(ctx.spare_user.pk), "tenant": str(ctx.aurora.pk), "role": "member"},
        m.GlobalRole: {"user": str(ctx.spare_user.pk), "role": "committee"},
        m.AllocationPeriod: {
            "name": "2028 Q1",
            "slug": "2028-q1",
            **_at("starts_at", datetime(2028, 1, 1)),
            **_at("ends_at", datetime(2028, 3, 31)),
            **_at("request_deadline", datetime(2027, 12, 1)),
            "status": "open",
        },
        m.Heartbeat: {"name": "side-door", **_at("seen_at", START), "beats": "1"},
        m.NotificationSettings: {"user": str(ctx.spare_user.pk), "email_enabled": "on"},
    }


# A change that must go through the ledger when the model has one; other models are posted back as rendered.
CHANGES: dict[type, dict[str, str]] = {
    m.MaintenanceWindow: {"chips": "60"},
    m.Inventory: {"chips_in_service": "30"},
    m.Gigafactory: {"inventory-0-chips_in_service": "32"},
}


class Ctx:
    def __init__(self, catalogue: Any, aurora: Any) -> None:
        self.catalogue, self.aurora = catalogue, aurora
        self.partner = m.Partner.objects.create(name="Acme", slug="acme", kind="company", pool=catalogue.acme_pool)
        self.spare_user = UserFactory(username="spare")


def _url(model: type, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def staff(db: Any) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def _added(staff: Client, model: Any, data: dict[str, Any]) -> Any:
    before = set(model.objects.values_list("pk", flat=True))
    added = staff.post(_url(model, "add"), data)
    assert added.status_code == 302, (model, _errors(added))
    [obj] = model.objects.exclude(pk__in=before)
    return obj


def _admin_id(obj: Any) -> Any:
    """The id in the object's admin URLs (DRF's token admin names a token by its user)."""
    return obj.user_id if isinstance(obj, TokenProxy) else obj.pk


def _drive_admin(staff: Client, model: Any, add: dict[str, Any]) -> None:
    """Add one object through the admin form, change it, delete it (form and bulk action)."""
    rendered = staff.get(_url(model, "add"))
    assert rendered.status_code == 200, model
    obj = _added(staff, model, {**_page_data(rendered), **add})
    page = staff.get(_url(model, "change", _admin_id(obj)))
    assert page.status_code == 200, model
    changed = staff.post(_url(model, "change", _admin_id(obj)), {**_page_data(page), **CHANGES.get(model, {})})
    assert changed.status_code == 302 and changed.url != reverse("admin:index"), (model, _errors(changed))
    if not admin.site._registry[model].has_delete_permission(page.wsgi_request, obj):
        assert staff.post(_url(model, "delete", _admin_id(obj)), {"post": "yes"}).status_code == 403, model
        return
    deleted = staff.post(_url(model, "delete", _admin_id(obj)), {"post": "yes"})
    if deleted.status_code == 200 and deleted.context.get("protected"):
        assert model.objects.filter(pk=obj.pk).exists(), model  # e.g. a site whose resources protect it
        return
    assert deleted.status_code == 302 and not model.objects.filter(pk=obj.pk).exists(), model
    obj = _added(staff, model, {**_page_data(rendered), **add})
    staff.post(_url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert not model.objects.filter(pk=obj.pk).exists(), model


def _refuses_writes(staff: Client, model: type, obj: Any) -> None:
    assert staff.get(_url(model, "add")).status_code == 403, model
    assert staff.post(_url(model, "add"), {}).status_code == 403, model
    if obj is not None:
        assert staff.post(_url(model, "change", obj.pk), {}).status_code == 403, model
        assert staff.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model
        bulk = staff.post(
            _url(model, "changelist"), {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"}
        )
        assert model.objects.filter(pk=obj.pk).exists(), (model, bulk.status_code)  # type: ignore[attr-defined]


def test_every_admin_either_refuses_writes_or_goes_through_the_services(
    staff: Client, funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any, oscar: Any
) -> None:
    # Bookings the maintenance entered in the admin displaces, usage, a balance, ledger rows, an outbox row.
    booking_fixed_create(actor=alice, tenant=aurora, inventory=funded.lux_h100, starts_at=START, hours=2, chips=50)
    booking_fixed_create(actor=mallory, tenant=nimbus, inventory=funded.lux_h100, starts_at=START, hours=2, chips=40)
    with pytest.MonkeyPatch.context() as clock:  # usage is reported for bookings that ran
        clock.setattr("django.utils.timezone.now", lambda: START + 3 * H)
        usage_records_report(
            actor=oscar,
            records=[{"record_id": "u-1", "booking": m.Booking.objects.first().pk, "at": START, "gpu_hours": 10}],
        )
    maintenance_announce(actor=oscar, inventory=funded.muc_h100, chips=1, starts_at=START, ends_at=START + H)
    ctx = Ctx(funded, aurora)
    adds = admin_add_data(ctx)

    with side_doors() as found:
        for model in admin.site._registry:
            if model in READ_ONLY_IN_ADMIN:
                _refuses_writes(staff, model, model.objects.first())
            else:
                assert model in adds, f"{model.__name__} is in the admin: give valid add data here to drive it"
                _drive_admin(staff, model, adds[model])

    assert found == []
    # The maintenance entered in the admin went through the ledger: 60 chips out (after the change) of 90.
    assert m.Booking.objects.filter(status=m.BookingStatus.AT_RISK).count() >= 1
    assert m.AuditEvent.objects.filter(action="maintenance.changed").exists()
    assert m.AuditEvent.objects.filter(action="maintenance.cancelled").count() == 2


def test_maintenance_typed_into_the_admin_lowers_capacity_flags_bookings_and_refuses_overbooking(
    staff: Client, funded: Any, aurora: Any, alice: Any, nimbus: Any, mallory: Any
) -> None:
    """Item 1 of issue 11, replayed: 700 of 776 chips out of service 2027-02-01 00:00-03:00."""
    muc = funded.muc_h100
    m.Inventory.objects.filter(pk=muc.pk).update(chips_installed=776, chips_in_service=776)
    muc.refresh_from_db()
    start = datetime(2027, 2, 1, tzinfo=UTC)
    kept, _ = booking_fixed_create(actor=alice, tenant=aurora, inventory=muc, starts_at=start, hours=3, chips=60)
    later, _ = booking_fixed_create(actor=mallory, tenant=nimbus, inventory=muc, starts_at=start, hours=3, chips=650)
    page = staff.get(_url(m.MaintenanceWindow, "add"))

    with side_doors() as found:
        response = staff.post(
            _url(m.MaintenanceWindow, "add"),
            {
                **_page_data(page),
                "inventory": str(muc.pk),
                "chips": "700",
                **_at("starts_at", start),
                **_at("ends_at", start + 3 * H),
                "reason": "Cooling loop repair",
            },
        )

    assert response.status_code == 302, _errors(response)
    assert found == []
    hours = {r.hour: r for r in m.ResourceHour.objects.filter(inventory=muc, hour__gte=start, hour__lt=start + 3 * H)}
    assert {h: r.capacity for h, r in hours.items()} == {start + i * H: 76 for i in range(3)}
    assert all(r.booked <= r.capacity for r in hours.values())
    later.refresh_from_db()
    kept.refresh_from_db()
    assert (later.status, kept.status) == (m.BookingStatus.AT_RISK, m.BookingStatus.CONFIRMED)
    assert m.Notification.objects.filter(tenant=nimbus, subject=f"Booking {later.pk} is at risk").exists()
    assert max(ledger.free_chips(inventory=muc, start=start, hours=3)) < 70
    shown = client_for(alice).get(
        "/api/v1/availability/", {"resource": "muc/h100", "start": "2027-02-01T00:00:00Z", "hours": 3}
    )
    assert shown.status_code == 200 and max(slot["free_chips"] for slot in shown.json()["slots"]) < 70
    with pytest.raises(Conflict):
        booking_fixed_create(actor=alice, tenant=aurora, inventory=muc, starts_at=start, hours=3, chips=70)
    # The same over the API: a 409, and the ledger still holds no more than 76 chips in any of those hours.
    refused = client_for(alice).post(
        "/api/v1/bookings/",
        {"tenant": "aurora-lab", "resource": "muc/h100", "starts_at": "2027-02-01T00:00:00Z", "hours": 1, "chips": 70},
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "capacity"
    # Deleting the window in the admin gives the chips back.
    window = m.MaintenanceWindow.objects.get()
    with side_doors() as found:
        deleted = staff.post(_url(m.MaintenanceWindow, "delete", window.pk), {"post": "yes"})
    assert deleted.status_code == 302 and found == []
    assert set(
        m.ResourceHour.objects.filter(inventory=muc, hour__gte=start, hour__lt=start + 3 * H).values_list(
            "capacity", flat=True
        )
    ) == {776}


# --- the API ----------------------------------------------------------------------------------


def writing_endpoints() -> set[tuple[str, str]]:
    """(URL name, method) of every API endpoint that writes, found by walking the URL resolver."""

    def walk(patterns: list[Any]) -> Iterator[URLPattern]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns)
            else:
                yield pattern

    found = set()
    for pattern in walk(get_resolver().url_patterns):
        view = getattr(pattern.callback, "cls", None)
        if view is None:
            continue  # not DRF: the pages and the admin
        actions = getattr(pattern.callback, "actions", None)
        methods = [m_ for m_ in actions if m_ in WRITING] if actions else [m_ for m_ in WRITING if hasattr(view, m_)]
        found |= {(str(pattern.name), method) for method in methods}
    return found


def api_drivers(ctx: Any) -> dict[tuple[str, str], Callable[[], Any]]:
    """One valid call per writing endpoint, as the people who may make it."""
    member, pi, committee, operator = (client_for(u) for u in (ctx.alice, ctx.bob, ctx.carol, ctx.oscar))
    state: dict[str, Any] = {}

    def book() -> Any:
        response = member.post(
            "/api/v1/bookings/",
            {
                "tenant": "aurora-lab",
                "resource": "lux/h100",
                "starts_at": "2027-01-08T00:00:00Z",
                "hours": 2,
                "chips": 50,
            },
        )
        state["booking"] = response.json()["id"]
        return response

    def announce() -> Any:
        response = operator.post(
            "/api/v1/maintenance-windows/",
            {
                "resource": "lux/h100",
                "chips": 60,
                "starts_at": "2027-01-08T00:00:00Z",
                "ends_at": "2027-01-08T01:00:00Z",
            },
        )
        state["window"] = response.json()["id"]
        return response

    def after_the_booking_ran(call: Callable[[], Any]) -> Any:
        # Usage is reported for bookings that ran; the operator's token is kept valid that far ahead.
        with pytest.MonkeyPatch.context() as clock, override_settings(API_TOKEN_TTL_HOURS=24 * 365 * 5):
            clock.setattr("django.utils.timezone.now", lambda: START + 3 * H)
            return call()

    def new_request() -> Any:
        response = pi.post("/api/v1/allocation-requests/", request_body())
        state["request"] = response.json()["id"]
        return response

    def new_round() -> Any:
        response = committee.post("/api/v1/allocation-rounds/", {"period": "2027-q1"})
        state["round"] = response.json()["id"]
        return response

    return {
        ("api-token", "post"): lambda: client_for().post(
            "/api/v1/auth/token/", {"username": "alice", "password": ctx.password}
        ),
        ("booking-list", "post"): book,
        ("maintenance-window-list", "post"): announce,
        ("maintenance-window-detail", "patch"): lambda: operator.patch(
            f"/api/v1/maintenance-windows/{state['window']}/", {"chips": 50}
        ),
        ("booking-move", "post"): lambda: operator.post(
            f"/api/v1/bookings/{state['booking']}/move/", {"resource": "muc/h100"}
        ),
        ("booking-reconfirm", "post"): lambda: (
            maintenance_announce(
                actor=ctx.oscar, inventory=ctx.catalogue.muc_h100, chips=990, starts_at=START, ends_at=START + H
            ),
            operator.post(f"/api/v1/maintenance-windows/{state['window']}/end/"),
            operator.post(f"/api/v1/maintenance-windows/{m.MaintenanceWindow.objects.latest('pk').pk}/end/"),
            operator.post(f"/api/v1/bookings/{state['booking']}/reconfirm/"),
        )[-1],
        ("maintenance-window-end", "post"): lambda: (
            announce(),
            operator.post(f"/api/v1/maintenance-windows/{state['window']}/end/"),
        )[-1],
        ("usage-record-list", "post"): lambda: after_the_booking_ran(
            lambda: operator.post(
                "/api/v1/usage-records/",
                {
                    "records": [
                        {
                            "record_id": "api-1",
                            "booking": state["booking"],
                            "at": "2027-01-08T01:00:00Z",
                            "gpu_hours": 50,
                        }
                    ]
                },
                format="json",
            )
        ),
        ("usage-record-adjust", "post"): lambda: after_the_booking_ran(
            lambda: operator.post(
                "/api/v1/usage-records/adjustments/",
                {
                    "adjustments": [
                        {"record_id": "api-1-fix", "corrects": "api-1", "gpu_hours": -10, "reason": "counted twice"}
                    ]
                },
                format="json",
            )
        ),
        ("booking-cancel", "post"): lambda: member.post(f"/api/v1/bookings/{state['booking']}/cancel/"),
        ("allocation-request-list", "post"): new_request,
        ("allocation-request-detail", "patch"): lambda: pi.patch(
            f"/api/v1/allocation-requests/{state['request']}/", {"title": "Renamed"}
        ),
        ("allocation-request-submit", "post"): lambda: pi.post(
            f"/api/v1/allocation-requests/{state['request']}/submit/"
        ),
        ("allocation-request-decide", "post"): lambda: committee.post(
            f"/api/v1/allocation-requests/{state['request']}/decide/", {"decision": "accept"}
        ),
        ("allocation-request-withdraw", "post"): lambda: (
            new_request(),
            pi.post(f"/api/v1/allocation-requests/{state['request']}/withdraw/"),
        )[-1],
        ("allocation-round-list", "post"): new_round,
        ("allocation-round-commit", "post"): lambda: committee.post(
            f"/api/v1/allocation-rounds/{state['round']}/commit/"
        ),
        ("allocation-round-discard", "post"): lambda: (
            new_round(),
            committee.post(f"/api/v1/allocation-rounds/{state['round']}/discard/"),
        )[-1],
        # Last: it revokes the member's token the drivers above sign in with.
        ("api-token", "delete"): lambda: member.delete("/api/v1/auth/token/"),
    }


def test_every_writing_api_endpoint_goes_through_the_services(
    funded: Any,
    aurora: Any,
    alice: Any,
    bob: Any,
    carol: Any,
    oscar: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ctx = type(
        "Ctx",
        (),
        {
            "catalogue": funded,
            "alice": alice,
            "bob": bob,
            "carol": carol,
            "oscar": oscar,
            "password": "correct horse battery staple",
        },
    )
    drivers = api_drivers(ctx)
    assert writing_endpoints() == set(drivers), "a writing endpoint is not driven here: add it"

    with side_doors() as found:
        for endpoint, drive in drivers.items():  # in the order above: each step uses the one before
            with django_capture_on_commit_callbacks(execute=True):  # the worker's part runs too
                response = drive()
            assert response.status_code < 300, (endpoint, response.status_code, response.content[:500])

    assert found == []
    booking = m.Booking.objects.get()
    assert (booking.status, booking.inventory_id) == (m.BookingStatus.CANCELLED, funded.muc_h100.pk)
    assert m.AllocationRound.objects.filter(status="committed").count() >= 1


def test_a_refusal_in_the_admin_is_a_message_not_a_500_and_staff_without_the_operator_role_cannot_write(
    staff: Client, funded: Any, carol: Any
) -> None:
    lux = funded.lux_h100  # 100 installed
    page = staff.get(_url(m.MaintenanceWindow, "add"))
    refused = staff.post(
        _url(m.MaintenanceWindow, "add"),
        {
            **_page_data(page),
            "inventory": str(lux.pk),
            "chips": "101",
            **_at("starts_at", START),
            **_at("ends_at", START + H),
        },
        follow=True,
    )
    assert refused.status_code == 200
    assert "has only 100 chips installed" in refused.content.decode()
    assert not m.MaintenanceWindow.objects.exists()

    # A committee member with every admin permission but no operator role sees, and cannot write.
    carol.is_staff = True
    carol.save()
    carol.user_permissions.set(Permission.objects.all())
    committee = Client()
    committee.force_login(carol)
    assert committee.get(_url(m.MaintenanceWindow, "add")).status_code == 403
    assert committee.get(_url(m.Inventory, "change", lux.pk)).status_code == 200  # view only
    assert committee.post(_url(m.Inventory, "change", lux.pk), {"chips_in_service": "1"}).status_code == 403
