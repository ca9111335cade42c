"""Load the demo partnership into the database.

Invariants:
- idempotent: every row is keyed by a natural key (slug, username, request
  title per tenant and period), so a second run adds nothing;
- ``scale`` multiplies tenants (1,000 per unit, 200 of each kind) and their requests; the
  catalogue (chip types, sites, partners) does not scale;
- deterministic: the same scale gives the same data on every machine;
- one password hash is computed for all demo users (hashing 1,000 users
  one by one would take minutes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction

from allocation.demo import catalogue as cat
from allocation.models import (
    AllocationPeriod,
    AllocationRequest,
    ChipType,
    Contribution,
    Gigafactory,
    GlobalRole,
    Inventory,
    MemberRole,
    Membership,
    Partner,
    Pool,
    RequestStatus,
    RoleKind,
    Tenant,
    TenantKind,
    Verification,
)

DEMO_PASSWORD = "investai-demo"
PUBLIC_KINDS = {TenantKind.STARTUP, TenantKind.SME, TenantKind.RESEARCHER, TenantKind.PUBLIC_BODY}


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str


DEMO_ACCOUNTS = (
    DemoAccount("researcher", "researcher (member of Aurora University Lab)"),
    DemoAccount("pi", "tenant PI (Aurora University Lab)"),
    DemoAccount("committee", "allocation committee member"),
    DemoAccount("operator", "site operator"),
    DemoAccount("admin", "platform admin (Django admin too)"),
)


def _catalogue() -> tuple[dict[str, ChipType], dict[str, Pool]]:
    chips: dict[str, ChipType] = {}
    for slug, (vendor, model, gen, mem, tflops, tdp, thr) in cat.CHIP_TYPES.items():
        chips[slug], _ = ChipType.objects.get_or_create(
            slug=slug,
            defaults=dict(
                vendor=vendor,
                model=model,
                generation=gen,
                memory_gb=mem,
                peak_bf16_tflops=tflops,
                tdp_watts=tdp,
                throughput=thr,
            ),
        )
    for slug, (name, country, city, kind, status, tz, inventory) in cat.SITES.items():
        site, _ = Gigafactory.objects.get_or_create(
            slug=slug, defaults=dict(name=name, country=country, city=city, kind=kind, status=status, timezone=tz)
        )
        for chip_slug, installed in inventory.items():
            Inventory.objects.get_or_create(
                gigafactory=site,
                chip_type=chips[chip_slug],
                # A few percent of every fleet is always down for repair.
                defaults=dict(chips_installed=installed, chips_in_service=installed * 97 // 100),
            )
    pools = {
        "public": Pool.objects.get_or_create(
            slug="public", defaults=dict(name="Public pool (startups, SMEs, research)", is_public=True)
        )[0]
    }
    for slug, (name, kind, pool_slug, tranches) in cat.PARTNERS.items():
        if pool_slug is None:
            pool = pools["public"]
        else:
            pool, _ = Pool.objects.get_or_create(slug=pool_slug, defaults=dict(name=f"{name} pool"))
            pools[pool_slug] = pool
        partner, _ = Partner.objects.get_or_create(slug=slug, defaults=dict(name=name, kind=kind, pool=pool))
        for tranche, amount in tranches.items():
            Contribution.objects.get_or_create(
                partner=partner, tranche=tranche, defaults=dict(amount_eur=Decimal(amount))
            )
    return chips, pools


def _tenant_plan(scale: int) -> list[tuple[str, str, str, str]]:
    """(slug, name, kind, country) for every demo tenant, deterministic."""
    rng = random.Random(2024)
    plan = []
    for copy in range(scale):
        for kind, count in cat.KIND_COUNTS.items():
            for n in range(count):
                part = cat.NAME_PARTS[(n + copy * 7) % len(cat.NAME_PARTS)]
                suffix = cat.KIND_SUFFIX[kind][n % len(cat.KIND_SUFFIX[kind])]
                number = n // len(cat.NAME_PARTS) + copy * 10
                name = f"{part} {suffix}" + (f" {number + 1}" if number else "")
                slug = f"{kind.replace('_', '-')}-{copy:03d}-{n:03d}"
                plan.append((slug, name, kind, rng.choice(cat.COUNTRIES)))
    return plan


def _tenants(scale: int, pools: dict[str, Pool]) -> list[Tenant]:
    private_pools = [p for slug, p in sorted(pools.items()) if slug != "public"]
    plan = _tenant_plan(scale)
    rows = []
    for i, (slug, name, kind, country) in enumerate(plan):
        pool = pools["public"] if kind in PUBLIC_KINDS else private_pools[i % len(private_pools)]
        rows.append(
            Tenant(
                slug=slug,
                name=name,
                kind=kind,
                country=country,
                pool=pool,
                verification=Verification.VERIFIED if i % 10 else Verification.PENDING,
            )
        )
    Tenant.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    by_slug = {t.slug: t for t in Tenant.objects.filter(slug__in=[p[0] for p in plan])}
    return [by_slug[p[0]] for p in plan]


def _users(tenants: list[Tenant]) -> None:
    user_model = get_user_model()
    password = make_password(DEMO_PASSWORD)
    wanted: list[tuple[str, Tenant, str]] = []
    for i, tenant in enumerate(tenants):
        wanted.append((f"{tenant.slug}-pi", tenant, MemberRole.PI))
        wanted.extend((f"{tenant.slug}-m{k}", tenant, MemberRole.MEMBER) for k in range(1 + i % 2))
    # The named demo accounts belong to the first verified research tenant (a pending one may not book).
    lab = next(t for t in tenants if t.kind == TenantKind.RESEARCHER and t.verification == Verification.VERIFIED)
    wanted += [("pi", lab, MemberRole.PI), ("researcher", lab, MemberRole.MEMBER)]
    user_model.objects.bulk_create(
        [
            user_model(
                username=name,
                email=f"{name}@demo.investai.eu",
                password=password,
                first_name=name.split("-")[0].title(),
            )
            for name, _, _ in wanted
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    ids = dict(user_model.objects.filter(username__in=[w[0] for w in wanted]).values_list("username", "id"))
    Membership.objects.bulk_create(
        [Membership(user_id=ids[name], tenant=tenant, role=role) for name, tenant, role in wanted],
        ignore_conflicts=True,
        batch_size=1000,
    )
    for name, role in (("committee", RoleKind.COMMITTEE), ("operator", RoleKind.OPERATOR), ("admin", RoleKind.ADMIN)):
        user, created = user_model.objects.get_or_create(
            username=name, defaults=dict(email=f"{name}@demo.investai.eu", password=password, first_name=name.title())
        )
        GlobalRole.objects.get_or_create(user=user, role=role)
        if name == "admin" and created:
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])


def _period(now: datetime) -> AllocationPeriod:
    """The next calendar quarter, open for requests until a week before it starts."""
    next_quarter = (now.month - 1) // 3 + 1
    year, quarter = now.year + next_quarter // 4, next_quarter % 4
    starts = datetime(year, quarter * 3 + 1, 1, tzinfo=UTC)
    period, _ = AllocationPeriod.objects.get_or_create(
        slug=f"{year}-q{quarter + 1}",
        defaults=dict(
            name=f"{year} Q{quarter + 1}",
            starts_at=starts,
            ends_at=starts + timedelta(days=90),
            request_deadline=starts - timedelta(days=7),
        ),
    )
    return period


def _requests(tenants: list[Tenant], period: AllocationPeriod, chips: dict[str, ChipType]) -> None:
    """One request per tenant, sized so that the popular resources are contended.

    Demand adds up to roughly the period's capacity, and a third of the
    requests accept only one site, a third one chip type anywhere, a third
    anything: the fair-share round then has real choices to make.
    """
    rng = random.Random(42)
    existing = set(AllocationRequest.objects.filter(period=period).values_list("tenant_id", "title"))
    pis = dict(Membership.objects.filter(tenant__in=tenants, role=MemberRole.PI).values_list("tenant_id", "user_id"))
    sites_with: dict[int, list[Gigafactory]] = {}
    for inv in Inventory.objects.select_related("gigafactory"):
        sites_with.setdefault(inv.chip_type_id, []).append(inv.gigafactory)
    big_chips = ["b200", "gb300", "h200", "mi355x", "h100"]
    rows, eligibility = [], []
    for i, tenant in enumerate(tenants):
        title = f"{cat.REQUEST_TOPICS[i % len(cat.REQUEST_TOPICS)]} ({tenant.name})"
        if (tenant.id, title) in existing:
            continue
        chip = chips[big_chips[i % len(big_chips)]]
        unit = 250_000 if tenant.kind == TenantKind.LARGE_ENTERPRISE else 90_000
        gpu_hours = float(rng.randint(1, 20) * unit)
        submitted = i % 5 != 0
        rows.append(
            AllocationRequest(
                period=period,
                tenant=tenant,
                created_by_id=pis[tenant.id],
                title=title,
                abstract="Demo request.",
                chip_type=chip,
                demand_gpu_hours=gpu_hours,
                demand_normalized_hours=gpu_hours * chip.throughput,
                justification="Demonstrates the allocation workflow.",
                expected_outputs="Open model weights.",
                status=RequestStatus.SUBMITTED if submitted else RequestStatus.DRAFT,
                submitted_at=period.request_deadline - timedelta(days=rng.randint(1, 30)) if submitted else None,
            )
        )
        sites = [rng.choice(sites_with[chip.pk])] if i % 3 == 0 else []
        eligibility.append((sites, [chip] if i % 3 != 2 else []))
    created = AllocationRequest.objects.bulk_create(rows, batch_size=1000)
    site_links = AllocationRequest.eligible_sites.through
    chip_links = AllocationRequest.eligible_chip_types.through
    site_links.objects.bulk_create(
        [
            site_links(allocationrequest_id=r.pk, gigafactory_id=s.pk)
            for r, (sites, _) in zip(created, eligibility, strict=True)
            for s in sites
        ]
    )
    chip_links.objects.bulk_create(
        [
            chip_links(allocationrequest_id=r.pk, chiptype_id=c.pk)
            for r, (_, chips_) in zip(created, eligibility, strict=True)
            for c in chips_
        ]
    )


@transaction.atomic
def demo_seed(*, scale: int = 1, now: datetime | None = None) -> dict[str, int]:
    """Create the demo partnership; return what the database then holds."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    chips, pools = _catalogue()
    tenants = _tenants(scale, pools)
    _users(tenants)
    period = _period(now or datetime.now(UTC))
    _requests(tenants, period, chips)
    totals = Inventory.objects.values_list("chips_installed", flat=True)
    return {
        "sites": Gigafactory.objects.count(),
        "chip_types": ChipType.objects.count(),
        "chips": sum(totals),
        "partners": Partner.objects.count(),
        "pools": Pool.objects.count(),
        "tenants": Tenant.objects.count(),
        "members": Membership.objects.count(),
        "requests": AllocationRequest.objects.count(),
    }
