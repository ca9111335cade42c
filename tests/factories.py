"""factory-boy factories and small builders for the personas in conftest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import factory
from django.contrib.auth import get_user_model

from allocation import models as m

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.eu")
    password = factory.django.Password(PASSWORD)


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")
    kind = "startup"
    country = "DE"
    verification = "verified"


def member(username: str, tenant: m.Tenant, *, role: str) -> Any:
    user = UserFactory(username=username)
    m.Membership.objects.create(user=user, tenant=tenant, role=role)
    return user


def with_role(username: str, role: str) -> Any:
    user = UserFactory(username=username)
    m.GlobalRole.objects.create(user=user, role=role)
    return user


def grant(
    catalogue: Catalogue, tenant: m.Tenant, carol: Any, normalized_hours: float, inventory: m.Inventory | None = None
) -> None:
    """A committed round's grant on ``inventory`` (muc/h100 by default), written directly (the round
    itself is tested elsewhere)."""
    inventory = inventory or catalogue.muc_h100
    rnd, _ = m.AllocationRound.objects.get_or_create(
        period=catalogue.period, status="committed", defaults={"created_by": carol}
    )
    req = m.AllocationRequest.objects.create(
        period=catalogue.period,
        tenant=tenant,
        created_by=carol,
        title="q",
        chip_type=catalogue.h100,
        demand_gpu_hours=normalized_hours,
        demand_normalized_hours=normalized_hours,
        status="accepted",
        accepted_normalized_hours=normalized_hours,
    )
    m.Quota.objects.create(
        round=rnd,
        period=catalogue.period,
        tenant=tenant,
        request=req,
        inventory=inventory,
        gpu_hours=normalized_hours / inventory.chip_type.throughput,
        normalized_hours=normalized_hours,
    )


@dataclass
class Catalogue:
    """Two sites, two chip types, a public and a private pool, an open period."""

    muc: m.Gigafactory
    lux: m.Gigafactory
    h100: m.ChipType
    b200: m.ChipType
    muc_h100: m.Inventory
    muc_b200: m.Inventory
    lux_h100: m.Inventory
    public_pool: m.Pool
    acme_pool: m.Pool
    period: m.AllocationPeriod

    @classmethod
    def create(cls) -> Catalogue:
        h100 = m.ChipType.objects.create(
            vendor="NVIDIA",
            model="H100",
            slug="h100",
            memory_gb=80,
            peak_bf16_tflops=989,
            tdp_watts=700,
            throughput=1.0,
        )
        b200 = m.ChipType.objects.create(
            vendor="NVIDIA",
            model="B200",
            slug="b200",
            memory_gb=192,
            peak_bf16_tflops=2250,
            tdp_watts=1000,
            throughput=2.5,
        )
        muc = m.Gigafactory.objects.create(
            name="Bavaria AI Gigafactory",
            slug="muc",
            country="DE",
            city="Munich",
            kind="gigafactory",
            timezone="Europe/Berlin",
        )
        lux = m.Gigafactory.objects.create(
            name="L-AI Factory", slug="lux", country="LU", city="Bissen", kind="factory", timezone="Europe/Luxembourg"
        )
        public_pool = m.Pool.objects.create(name="Public pool", slug="public", is_public=True)
        acme_pool = m.Pool.objects.create(name="Acme pool", slug="acme")
        start = datetime(2027, 1, 1, tzinfo=UTC)
        period = m.AllocationPeriod.objects.create(
            name="2027 Q1",
            slug="2027-q1",
            starts_at=start,
            ends_at=start + timedelta(days=90),
            request_deadline=start - timedelta(days=7),
        )
        return cls(
            muc=muc,
            lux=lux,
            h100=h100,
            b200=b200,
            muc_h100=m.Inventory.objects.create(
                gigafactory=muc, chip_type=h100, chips_installed=1000, chips_in_service=1000
            ),
            muc_b200=m.Inventory.objects.create(
                gigafactory=muc, chip_type=b200, chips_installed=200, chips_in_service=200
            ),
            lux_h100=m.Inventory.objects.create(
                gigafactory=lux, chip_type=h100, chips_installed=100, chips_in_service=90
            ),
            public_pool=public_pool,
            acme_pool=acme_pool,
            period=period,
        )


def booked_hours(**filters: Any) -> dict[Any, int]:
    """Hour -> chips held, for the hours that hold any (the ledger also has rows
    for every other hour of a period once one of them was booked)."""
    return dict(m.ResourceHour.objects.filter(booked__gt=0, **filters).values_list("hour", "booked"))
