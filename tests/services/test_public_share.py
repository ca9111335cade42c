"""The committee's public share is measured by pool, like the weights the engine used (issue 11, item 13).

The round: one resource (LUX, 90 H100 for 2,160 h = 194,400 normalized
hours); the public pool weighs 0.4 (an EU programme paid 40 M, Acme 60 M) and
holds a researcher and a public body; Acme's pool holds a large enterprise.
Everyone asks for the whole resource, so the engine gives the public pool
40 % and Acme's 60 %. Counting tenant kinds instead (startups, SMEs,
researchers) sees only the researcher's 20 % and calls the round unfair.
"""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.urls import reverse
from rest_framework.test import APIClient

from allocation.models import AllocationRequest, AllocationRound, Contribution, Partner
from allocation.services import rounds
from allocation.services.requests import RequestContent, request_create, request_decide, request_submit
from tests.factories import TenantFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

LUX_HOURS = 90 * 2160.0


def funded_pools(catalogue: Any, *, public_eur: int = 40, acme_eur: int = 60) -> None:
    for slug, kind, pool, eur in (
        ("digital-europe", "eu_programme", catalogue.public_pool, public_eur),
        ("acme", "company", catalogue.acme_pool, acme_eur),
    ):
        partner = Partner.objects.create(name=slug, slug=slug, kind=kind, pool=pool)
        Contribution.objects.create(partner=partner, tranche="equity", amount_eur=Decimal(eur * 1_000_000))


def accepted(
    catalogue: Any, carol: Any, *, name: str, kind: str, pool: Any, gpu_hours: float, sites: tuple = ()
) -> AllocationRequest:
    tenant = TenantFactory(name=name, kind=kind, pool=pool)
    pi = member(f"pi-{tenant.slug}", tenant, role="pi")
    req = request_create(
        actor=pi,
        tenant=tenant,
        period=catalogue.period,
        content=RequestContent(
            title=name, chip_type=catalogue.h100, demand_gpu_hours=gpu_hours, eligible_sites=sites or (catalogue.lux,)
        ),
    )
    request_submit(actor=pi, request=req)
    return request_decide(actor=carol, request=req, accept=True)


def computed(catalogue: Any, carol: Any) -> AllocationRound:
    rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    return rounds.round_compute(round_id=rnd.pk)


@pytest.fixture
def mixed_round(catalogue: Any, carol: Any) -> AllocationRound:
    """The public pool holds a researcher and a public body; Acme's pool a large enterprise."""
    funded_pools(catalogue)
    accepted(catalogue, carol, name="Aurora Lab", kind="researcher", pool=catalogue.public_pool, gpu_hours=LUX_HOURS)
    accepted(
        catalogue, carol, name="Statistics Agency", kind="public_body", pool=catalogue.public_pool, gpu_hours=LUX_HOURS
    )
    accepted(catalogue, carol, name="Acme Corp", kind="large_enterprise", pool=catalogue.acme_pool, gpu_hours=LUX_HOURS)
    return computed(catalogue, carol)


def test_the_public_share_is_the_public_pools_share_of_granted_hours(mixed_round, catalogue):
    result = mixed_round.result

    assert result["granted_normalized_hours"] == pytest.approx(LUX_HOURS)
    assert result["public_share"] == pytest.approx(0.4)  # the pool's 77,760 h, public body included
    assert result["public_target"] == pytest.approx(0.4)
    assert result["public_target_met"] is True
    public = next(p for p in result["pools"] if p["public"])
    assert public["id"] == catalogue.public_pool.pk
    assert (public["demand"], public["granted"]) == (pytest.approx(2 * LUX_HOURS), pytest.approx(0.4 * LUX_HOURS))
    # The kinds stay a breakdown: the researcher alone is 20 %, the public body counts as such.
    kinds = {k["kind"]: k["granted"] for k in result["kinds"]}
    assert kinds["researcher"] == pytest.approx(0.2 * LUX_HOURS)
    assert kinds["public_body"] == pytest.approx(0.2 * LUX_HOURS)


def test_the_round_page_compares_the_pool_with_its_weight_and_labels_the_kinds(client, mixed_round, carol):
    client.force_login(carol)

    response = client.get(reverse("round-detail", args=[mixed_round.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "40.0&nbsp;%</span><span>of granted hours to the public pool (its weight: 40.0 %)" in html
    assert 'class="figure bad"' not in html
    assert "to startups, SMEs and researchers (public pool target" not in html
    assert (
        "By tenant kind, whatever the pool: startups, SMEs and researchers together received 20.0 % of "
        "granted hours. This is not the public share"
    ) in html
    assert '<tr class="public-pool"><td>Public pool <span class="chip">public pool</span>' in html


def test_a_public_pool_below_its_weight_is_red_unless_it_got_all_it_asked(client, catalogue, carol):
    funded_pools(catalogue)
    # The public pool can only use LUX, Acme anything: the pool gets LUX, far below its 40 %.
    for name in ("Aurora Lab", "Statistics Agency"):
        accepted(catalogue, carol, name=name, kind="researcher", pool=catalogue.public_pool, gpu_hours=LUX_HOURS)
    accepted(
        catalogue,
        carol,
        name="Acme Corp",
        kind="large_enterprise",
        pool=catalogue.acme_pool,
        gpu_hours=3_000_000.0,
        sites=(catalogue.muc, catalogue.lux),
    )
    short = computed(catalogue, carol)
    client.force_login(carol)

    assert short.result["public_share"] < short.result["public_target"]
    assert short.result["public_target_met"] is False
    assert 'class="figure bad"' in client.get(reverse("round-detail", args=[short.pk])).content.decode()

    AllocationRequest.objects.filter(tenant__pool=catalogue.public_pool).update(accepted_normalized_hours=1000.0)
    served = computed(catalogue, carol)
    html = client.get(reverse("round-detail", args=[served.pk])).content.decode()

    assert served.result["public_share"] < served.result["public_target"]
    assert served.result["public_target_met"] is True
    assert 'class="figure bad"' not in html
    assert "its accepted demand is granted in full" in html


def test_the_api_reports_the_public_share_by_pool(mixed_round, carol, catalogue):
    api = APIClient()
    api.force_authenticate(carol)

    detail = api.get(f"/api/v1/allocation-rounds/{mixed_round.pk}/").json()
    listed = api.get("/api/v1/allocation-rounds/").json()["results"][0]

    for body in (detail, listed):
        assert body["public_share"] == pytest.approx(0.4)
        assert body["public_target"] == pytest.approx(0.4)
        assert body["public_target_met"] is True
        public = next(p for p in body["pools"] if p["public"])
        assert public["id"] == catalogue.public_pool.pk and public["demand"] == pytest.approx(2 * LUX_HOURS)


def test_rounds_stored_before_are_corrected_by_the_migration(mixed_round, catalogue):
    # What the old summary stored: the kinds' figure as "public share", pools without public/demand.
    pools = [{k: v for k, v in p.items() if k not in ("public", "demand")} for p in mixed_round.result["pools"]]
    old = dict(mixed_round.result, public_share=0.2, pools=pools)
    del old["public_target_met"]
    AllocationRound.objects.filter(pk=mixed_round.pk).update(result=old)
    AllocationRound.objects.create(period=catalogue.period, created_by=mixed_round.created_by)  # not computed yet
    migration = importlib.import_module("allocation.migrations.0006_public_share_by_pool")

    migration.forwards(django_apps, None)

    mixed_round.refresh_from_db()
    assert mixed_round.result["public_share"] == pytest.approx(0.4)
    assert mixed_round.result["public_target_met"] is True
    assert [p["public"] for p in mixed_round.result["pools"]] == [True, False]
    assert mixed_round.result["kinds"] == old["kinds"] and mixed_round.result["tenants"] == old["tenants"]
    assert AllocationRound.objects.filter(result__isnull=True).count() == 1
