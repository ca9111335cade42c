"""Serializer fields shared by the API's views.

Invariants:
- ``TenantOfUserField`` resolves a slug only among the requesting user's
  tenants (``selectors.tenants_of``); another tenant's slug, or any slug
  without a request in the serializer's context, is the same 400 as an
  unknown one, so the field never tells which tenants exist;
- the tenant it gives carries ``member_user_id``, the requesting user's id:
  it was found through that user's membership, which ``policies.is_member_of``
  then takes as proven instead of asking the database again;
- ``MomentField`` is the API's one datetime input: a moment outside
  ``allocation.validators``' range is a 400 naming the field, with the range
  in the message and in the schema; a moment in range comes out in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import IntegerField, QuerySet, Value
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from allocation import selectors, validators
from allocation.models import Tenant


def with_range(help_text: Any) -> str:
    """A datetime's help text, with the range of moments the API takes."""
    stated = f"Between {validators.EARLIEST:%Y-%m-%d} and {validators.LATEST:%Y-%m-%d} (UTC, the latter excluded)."
    return f"{help_text} {stated}".strip() if help_text else stated


class MomentField(serializers.DateTimeField):
    """An ISO 8601 moment in the platform's calendar, given back in UTC."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["help_text"] = with_range(kwargs.get("help_text"))
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> datetime:
        try:
            return validators.in_utc(super().to_internal_value(value))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code="out_of_range") from None
        except serializers.ValidationError as exc:
            # DRF's own "Datetime value out of range." (an offset past year 9999): the same words as any other.
            if exc.get_codes() == ["overflow"]:
                raise serializers.ValidationError(validators.range_error(), code="out_of_range") from None
            raise


class TenantOfUserField(serializers.SlugRelatedField):
    """A tenant slug that must name one of the requesting user's tenants."""

    default_error_messages = {
        "does_not_exist": gettext_lazy("You are not a member of a tenant '{value}'."),
        "invalid": gettext_lazy("Name the tenant by its slug."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="slug", queryset=Tenant.objects.none(), **kwargs)

    def get_queryset(self) -> QuerySet[Tenant]:
        request = self.context.get("request")
        if request is None:
            return Tenant.objects.none()
        # The tenant row only (callers need its id and slug, not its pool).
        return (
            selectors.tenants_of(user=request.user)
            .select_related(None)
            .annotate(member_user_id=Value(request.user.pk, output_field=IntegerField()))
        )
