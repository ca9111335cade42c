"""Forms of the booking pages: they parse input, the booking services judge it.

Invariant: a form checks only shape (whole numbers of at least one, a
datetime in the platform's calendar, text without control characters, a
choice this user may pick); every business rule (whole-hour
starts, a window that ends after it starts, free chips, quota) is the
service's, whose ``ServiceError`` the view puts back on the field it names.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from allocation import selectors
from allocation.models import BookingStatus, Gigafactory, Inventory, Tenant
from allocation.validators import validate_moment, validate_text

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class ChoicesOfUser:
    """Mixin: the querysets of choice fields are set per request."""

    fields: dict[str, forms.Field]

    def _choices(self, name: str) -> forms.ModelChoiceField[Any]:
        return cast("forms.ModelChoiceField[Any]", self.fields[name])


def resources() -> Any:
    return Inventory.objects.select_related("gigafactory", "chip_type").order_by("gigafactory__name", "chip_type__slug")


class ResourceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Inventory) -> str:
        return gettext("%(site)s · %(chip)s (%(chips)s chips in service)") % {
            "site": obj.gigafactory.name,
            "chip": obj.chip_type,
            "chips": f"{obj.chips_in_service:,}",
        }


class ResourcesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Inventory) -> str:
        return f"{obj.gigafactory.name} · {obj.chip_type}"


class HourInput(forms.DateTimeInput):
    """A datetime-local input stepping in whole hours."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"step": "3600", **(attrs or {})}, format=DATETIME_LOCAL)


def _hour_field(label: Any, help_text: Any = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        widget=HourInput,
        help_text=help_text,
        validators=[validate_moment],
        input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )


def _count_field(label: Any, **attrs: Any) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=1,
        widget=forms.NumberInput(attrs={"min": "1", "step": "1", "inputmode": "numeric", **attrs}),
    )


class BookingBaseForm(ChoicesOfUser, forms.Form):
    tenant: forms.ModelChoiceField[Tenant] = forms.ModelChoiceField(
        label=_("Organisation"), queryset=None, empty_label=None
    )
    hours = _count_field(_("Hours"))
    chips = _count_field(_("Chips"))
    # One key per rendered form: a double-clicked submit books once.
    idempotency_key = forms.CharField(
        widget=forms.HiddenInput, required=False, max_length=120, validators=[validate_text]
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self._choices("tenant").queryset = selectors.tenants_of(user=user).order_by("name")
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)


class FixedBookingForm(BookingBaseForm):
    """Chips of one resource from an exact hour."""

    inventory = ResourceField(label=_("Site and chip type"), queryset=None, empty_label=None)
    starts_at = _hour_field(_("Start (UTC, on the hour)"))
    field_order = ["tenant", "inventory", "starts_at", "hours", "chips"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("inventory").queryset = resources()


class FlexibleBookingForm(BookingBaseForm):
    """Chips on any of several resources, anywhere in a window; the booking round places it."""

    eligible = ResourcesField(
        label=_("Acceptable sites and chip types"), queryset=None, widget=forms.CheckboxSelectMultiple
    )
    earliest_start = _hour_field(_("Window opens (UTC)"))
    latest_end = _hour_field(_("Window closes (UTC)"))
    field_order = ["tenant", "eligible", "earliest_start", "latest_end", "hours", "chips"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("eligible").queryset = resources()


class AvailabilityForm(ChoicesOfUser, forms.Form):
    """The live preview's GET parameters: the fixed form's fields, each optional."""

    tenant = forms.IntegerField(required=False)
    inventory: forms.ModelChoiceField[Inventory] = forms.ModelChoiceField(queryset=None, required=False)
    starts_at = forms.DateTimeField(
        required=False, input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S"], validators=[validate_moment]
    )
    hours = forms.IntegerField(required=False, min_value=1)
    chips = forms.IntegerField(required=False, min_value=1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("inventory").queryset = resources()


class BookingFilterForm(forms.Form):
    """My bookings' GET filters; all optional."""

    status = forms.ChoiceField(label=_("State"), required=False, choices=[("", _("Any state")), *BookingStatus.choices])
    site = forms.ModelChoiceField(
        label=_("Site"), required=False, queryset=Gigafactory.objects.order_by("name"), empty_label=_("Any site")
    )

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        return {"status": self.cleaned_data.get("status") or None, "site": self.cleaned_data.get("site")}


class OperatorBookingFilterForm(BookingFilterForm):
    """Site operations' filters: my bookings' ones, and the organisation by name."""

    tenant = forms.CharField(label=_("Organisation"), required=False, max_length=100, validators=[validate_text])

    def filters(self) -> dict[str, Any]:
        found = super().filters()
        if found:
            found["tenant"] = self.cleaned_data.get("tenant", "").strip()
        return found
