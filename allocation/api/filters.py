"""Query-string filters of the API's list endpoints (django-filter).

Invariants:
- a filter only narrows the queryset a visibility selector already scoped to
  the user; it never widens it, so filtering cannot reveal another tenant's rows;
- objects are named by slug in filters as in bodies (``tenant=aurora-lab``,
  ``chip_type=h100``); a period may be named by slug or id;
- an unknown slug simply matches nothing (an empty page, not an error): a
  filter is a question, not a reference;
- a time filter (``MomentFilter``) outside ``allocation.validators``' range
  is a 400 naming it; in range it is compared in UTC, so an offset PostgreSQL
  cannot hold (``-18:38``) never reaches it.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django_filters.fields import IsoDateTimeField

from allocation import validators
from allocation.api.fields import with_range
from allocation.models import (
    AllocationPeriod,
    AllocationRequest,
    AllocationRound,
    AuditEvent,
    PeriodStatus,
    Quota,
    RequestStatus,
    RoundStatus,
)


class _MomentFormField(IsoDateTimeField):
    def clean(self, value: Any) -> Any:
        cleaned = super().clean(value)
        return None if cleaned is None else validators.in_utc(cleaned)


class MomentFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 time in the platform's calendar (the range is stated in its help text)."""

    field_class = _MomentFormField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["help_text"] = with_range(kwargs.get("help_text"))
        super().__init__(*args, **kwargs)


def _period_q(prefix: str, value: str) -> Q:
    """``period`` given as a slug or an id."""
    value = value.strip()
    q = Q(**{f"{prefix}slug": value})
    if value.isascii() and value.isdigit():  # isdigit() alone also takes "¹3", which int() refuses
        q |= Q(**{f"{prefix}pk": int(value)})
    return q


class PeriodRefFilter(django_filters.CharFilter):
    """A period by slug or id."""

    def __init__(self, *args: Any, prefix: str = "period__", **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Period slug or id.")
        super().__init__(*args, **kwargs)
        self.prefix = prefix

    def filter(self, qs: QuerySet[Any], value: str) -> QuerySet[Any]:
        if not value:
            return qs
        return qs.filter(_period_q(self.prefix, value))


class PeriodFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PeriodStatus.choices)

    class Meta:
        model = AllocationPeriod
        fields = ["status"]


class RequestFilter(django_filters.FilterSet):
    period = PeriodRefFilter()
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="Tenant slug.")
    chip_type = django_filters.CharFilter(field_name="chip_type__slug", help_text="Chip type slug.")

    class Meta:
        model = AllocationRequest
        fields = ["period", "status", "tenant", "chip_type"]


class QuotaFilter(django_filters.FilterSet):
    period = PeriodRefFilter()
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="Tenant slug.")
    site = django_filters.CharFilter(field_name="inventory__gigafactory__slug", help_text="Site slug.")
    chip_type = django_filters.CharFilter(field_name="inventory__chip_type__slug", help_text="Chip type slug.")
    request = django_filters.NumberFilter(field_name="request_id", help_text="Allocation request id.")

    class Meta:
        model = Quota
        fields = ["period", "tenant", "site", "chip_type", "request"]


class RoundFilter(django_filters.FilterSet):
    period = PeriodRefFilter()
    status = django_filters.ChoiceFilter(choices=RoundStatus.choices)

    class Meta:
        model = AllocationRound
        fields = ["period", "status"]


class AuditFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(help_text="Exact action, e.g. request.submitted.")
    object_type = django_filters.CharFilter(help_text="e.g. allocationrequest, allocationround, quota.")
    object_id = django_filters.CharFilter()
    tenant = django_filters.CharFilter(field_name="tenant__slug", help_text="Tenant slug.")
    since = MomentFilter(field_name="at", lookup_expr="gte", help_text="Events at or after this ISO 8601 time.")
    until = MomentFilter(field_name="at", lookup_expr="lt", help_text="Events before this ISO 8601 time.")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "tenant", "since", "until"]
