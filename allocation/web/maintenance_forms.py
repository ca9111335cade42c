"""Forms of the maintenance and at-risk pages: shape only; ``services.maintenance`` judges."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from allocation.models import Booking, Inventory
from allocation.web.booking_forms import ResourceField, _count_field, _hour_field, resources


class MaintenanceForm(forms.Form):
    """Announce a window (with its resource) or change one (without)."""

    inventory = ResourceField(label=_("Resource"), queryset=None, empty_label=None)
    chips = _count_field(_("Chips out of service"))
    starts_at = _hour_field(_("Starts (UTC)"))
    ends_at = _hour_field(_("Ends (UTC)"))
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def __init__(self, *args: Any, change: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if change:
            del self.fields["inventory"]
        else:
            self.fields["inventory"].queryset = resources()  # type: ignore[attr-defined]


class MoveForm(forms.Form):
    """Where to move an at-risk booking: a resource of its chip type and a start."""

    inventory = ResourceField(label=_("Resource"), queryset=None, empty_label=None)
    starts_at = _hour_field(_("Starts (UTC)"))

    def __init__(self, *args: Any, booking: Booking, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        kwargs.setdefault("prefix", f"move-{booking.pk}")
        kwargs.setdefault("initial", {"inventory": booking.inventory_id, "starts_at": booking.starts_at})
        super().__init__(*args, **kwargs)
        assert booking.inventory is not None
        same_chip: Any = resources().filter(chip_type_id=booking.inventory.chip_type_id)
        self.fields["inventory"].queryset = same_chip  # type: ignore[attr-defined]

    def resource(self) -> Inventory:
        return self.cleaned_data["inventory"]
