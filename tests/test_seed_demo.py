"""The demo partnership: realistic, complete, and safe to load twice."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum

from allocation.models import (
    AllocationPeriod,
    AllocationRequest,
    Gigafactory,
    Inventory,
    Membership,
    Partner,
    PeriodStatus,
    Tenant,
    TenantKind,
)

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_demo_has_four_gigafactories_and_the_seven_ai_factories(db: Any) -> None:
    seed()
    chips = dict(
        Inventory.objects.values("gigafactory__slug")
        .annotate(n=Sum("chips_installed"))
        .values_list("gigafactory__slug", "n")
    )
    giga = Gigafactory.objects.filter(kind="gigafactory")
    assert giga.count() == 4
    assert all(chips[site.slug] == 100_000 for site in giga)
    assert sorted(Gigafactory.objects.filter(kind="factory").values_list("country", flat=True)) == [
        "DE",
        "ES",
        "FI",
        "GR",
        "IT",
        "LU",
        "SE",
    ]
    assert set(Partner.objects.values_list("slug", flat=True)) >= {"digital-europe", "horizon-europe", "investeu"}


def test_every_kind_of_tenant_has_members_and_an_open_period_has_requests(db: Any) -> None:
    output = seed()
    per_kind = dict(Tenant.objects.values("kind").annotate(n=Count("id")).values_list("kind", "n"))
    assert all(per_kind[kind] >= 200 for kind in TenantKind.values)
    assert not Tenant.objects.filter(memberships__isnull=True).exists()
    assert Membership.objects.filter(role="pi").values("tenant").distinct().count() == Tenant.objects.count()
    period = AllocationPeriod.objects.get(status=PeriodStatus.OPEN)
    assert AllocationRequest.objects.filter(period=period, status="submitted").count() > 500
    for account in ("researcher", "pi", "committee", "operator", "admin"):
        assert account in output


def test_seeding_twice_adds_nothing(db: Any) -> None:
    seed()
    before = (Tenant.objects.count(), Membership.objects.count(), AllocationRequest.objects.count())
    seed()
    assert (Tenant.objects.count(), Membership.objects.count(), AllocationRequest.objects.count()) == before


def test_scale_multiplies_tenants_and_requests(db: Any) -> None:
    seed("--scale", "2")
    assert Tenant.objects.count() == 2000
    assert AllocationRequest.objects.count() == 2000


def test_a_bad_scale_is_a_one_line_error(db: Any) -> None:
    with pytest.raises(Exception, match="--scale must be at least 1"):
        call_command("seed_demo", "--scale", "0", stdout=StringIO(), stderr=StringIO())
