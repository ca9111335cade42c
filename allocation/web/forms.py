"""Forms of the allocation pages: they parse input, the services judge it.

Invariant: a form checks only shape (a number is a number, text holds no
control characters, a choice is one of the choices this user may pick); every business rule (positive demand,
chips the sites have, an open period) is the service's, whose
``ServiceError`` the view puts back on the field it names.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from allocation import selectors
from allocation.models import (
    AllocationPeriod,
    ChipType,
    Gigafactory,
    PeriodStatus,
    Pool,
    Tenant,
    TenantKind,
)
from allocation.services.errors import ServiceError
from allocation.services.requests import RequestContent, content_from_ids
from allocation.validators import validate_text


def add_service_error(form: forms.Form, error: ServiceError) -> None:
    """Show a service's refusal under the field it names, or above the form."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def open_periods() -> QuerySet[AllocationPeriod]:
    return AllocationPeriod.objects.filter(status=PeriodStatus.OPEN, request_deadline__gte=timezone.now()).order_by(
        "starts_at"
    )


class ChipTypeSelect(forms.Select):
    """A chip type picker whose options carry the chip's throughput for the live normalized figure."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-throughput"] = repr(instance.throughput)
        return option


class ChipTypeField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ChipType) -> str:
        return f"{obj} (throughput {obj.throughput:g})"


class RequestContentForm(forms.Form):
    """What a tenant writes in a request; the same fields for a new draft and an edit."""

    title = forms.CharField(label=_("Title"), max_length=200, validators=[validate_text])
    abstract = forms.CharField(
        label=_("Abstract"), widget=forms.Textarea(attrs={"rows": 3}), required=False, validators=[validate_text]
    )
    chip_type = ChipTypeField(
        label=_("Chip type of the demand"), queryset=ChipType.objects.order_by("slug"), widget=ChipTypeSelect
    )
    demand_gpu_hours = forms.FloatField(
        label=_("Demand (GPU-hours)"),
        widget=forms.NumberInput(attrs={"step": "any", "min": "0", "inputmode": "decimal"}),
    )
    eligible_sites = forms.ModelMultipleChoiceField(
        label=_("Acceptable sites"),
        queryset=Gigafactory.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any site."),
    )
    eligible_chip_types = forms.ModelMultipleChoiceField(
        label=_("Acceptable chip types"),
        queryset=ChipType.objects.order_by("slug"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any chip type."),
    )
    justification = forms.CharField(
        label=_("Justification"), widget=forms.Textarea(attrs={"rows": 4}), required=False, validators=[validate_text]
    )
    expected_outputs = forms.CharField(
        label=_("Expected outputs"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        validators=[validate_text],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def content(self) -> RequestContent:
        data = self.cleaned_data
        return content_from_ids(
            title=data["title"],
            chip_type_id=data["chip_type"].pk,
            demand_gpu_hours=data["demand_gpu_hours"],
            site_ids=[s.pk for s in data["eligible_sites"]],
            chip_type_ids=[c.pk for c in data["eligible_chip_types"]],
            abstract=data["abstract"],
            justification=data["justification"],
            expected_outputs=data["expected_outputs"],
        )

    @staticmethod
    def initial_from(request: Any) -> dict[str, Any]:
        return {
            "title": request.title,
            "abstract": request.abstract,
            "chip_type": request.chip_type_id,
            "demand_gpu_hours": request.demand_gpu_hours,
            "eligible_sites": list(request.eligible_sites.all()),
            "eligible_chip_types": list(request.eligible_chip_types.all()),
            "justification": request.justification,
            "expected_outputs": request.expected_outputs,
        }


class RequestCreateForm(RequestContentForm):
    """A new draft: for which of the user's organisations, in which open period."""

    tenant: forms.ModelChoiceField[Tenant] = forms.ModelChoiceField(
        label=_("Organisation"), queryset=None, empty_label=None
    )
    period: forms.ModelChoiceField[AllocationPeriod] = forms.ModelChoiceField(
        label=_("Allocation period"), queryset=None, empty_label=None
    )
    field_order = ["tenant", "period"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds this form's deep copies of the declared fields, typed as plain Field.
        cast("forms.ModelChoiceField[Tenant]", self.fields["tenant"]).queryset = selectors.tenants_of(
            user=user
        ).order_by("name")
        cast("forms.ModelChoiceField[AllocationPeriod]", self.fields["period"]).queryset = open_periods()


class NotificationForm(forms.Form):
    email_enabled = forms.BooleanField(label=_("E-mail me about requests, decisions and grants"), required=False)


class DecisionForm(forms.Form):
    """The committee's verdict on one submitted request."""

    ACCEPT, REDUCE, REJECT = "accept", "reduce", "reject"
    decision = forms.ChoiceField(
        label=_("Decision"),
        widget=forms.RadioSelect,
        choices=[(ACCEPT, _("Accept in full")), (REDUCE, _("Accept reduced")), (REJECT, _("Reject"))],
    )
    accepted_normalized_hours = forms.FloatField(
        label=_("Accepted (normalized hours)"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "any", "min": "0"}),
    )
    reason = forms.CharField(
        label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}), validators=[validate_text]
    )

    def clean(self) -> dict[str, Any]:
        super().clean()  # Form.clean() returns self.cleaned_data; the stubs type it Optional.
        data = self.cleaned_data
        if data.get("decision") == self.REDUCE and data.get("accepted_normalized_hours") is None:
            self.add_error("accepted_normalized_hours", _("Give the reduced amount."))
        return data


class ReviewFilterForm(forms.Form):
    """The review queue's GET filters; all optional."""

    kind = forms.ChoiceField(label=_("Tenant kind"), required=False, choices=[("", _("Any kind")), *TenantKind.choices])
    pool = forms.ModelChoiceField(
        label=_("Pool"), required=False, queryset=Pool.objects.all(), empty_label=_("Any pool")
    )
    chip_type = forms.ModelChoiceField(
        label=_("Chip type"), required=False, queryset=ChipType.objects.order_by("slug"), empty_label=_("Any chip type")
    )
    site = forms.ModelChoiceField(
        label=_("Site"), required=False, queryset=Gigafactory.objects.order_by("name"), empty_label=_("Any site")
    )

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "kind": data.get("kind") or None,
            "pool": data["pool"].pk if data.get("pool") else None,
            "chip_type": data["chip_type"].pk if data.get("chip_type") else None,
            "site": data["site"].pk if data.get("site") else None,
        }


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), required=False)
    object_type = forms.ChoiceField(label=_("Object type"), required=False)

    def __init__(self, *args: Any, actions: list[str], object_types: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["action"]).choices = [("", _("Any action")), *((a, a) for a in actions)]
        cast(forms.ChoiceField, self.fields["object_type"]).choices = [
            ("", _("Any object")),
            *((t, t) for t in object_types),
        ]
