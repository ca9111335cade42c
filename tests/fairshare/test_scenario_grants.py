"""Tenant ``grants`` in the scenario and ``drawn`` in the booking round's placements (section 3).

Invariants checked: a tenant's grants are parsed (wildcards resolved like a
request's ``eligible``) and replace its ``quota``; the cost is drawn from the
grant covering the fewest resources first, then in the tenant's list order,
each until it is empty, so one cost may be split across grants; a booking is
``quota``-unplaced when the grants covering its resources lack the cost
together; every placement of a grant holder, and only those, reports
``drawn``; bad grants are refused with one line naming the item; and on
random inputs the engine matches a brute-force reading of the contract, its
draws add up to each cost and never overdraw a grant.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.fairshare.booking_round import place_bookings
from allocation.fairshare.scenario import ScenarioError, parse_scenario, run_scenario
from allocation.fairshare.types import (
    BookingAsk,
    BookingInput,
    BookingResult,
    Drawn,
    Placement,
    Resource,
    Tenant,
    TenantGrant,
    Unplaced,
)

pytestmark = pytest.mark.engine

START = "2027-01-08T00:00:00Z"
MUC_H100 = [{"site": "MUC", "chip_type": "H100"}]


def booking(
    ident: str,
    tenant: str,
    chips: int,
    hours: int,
    eligible: list[dict[str, str]] | None = None,
    submitted: str = "2027-01-07T00:00:00Z",
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": ident,
        "tenant": tenant,
        "chips": chips,
        "hours": hours,
        "earliest_start": START,
        "latest_end": "2027-01-09T00:00:00Z",
        "submitted_at": submitted,
    }
    if eligible is not None:
        item["eligible"] = eligible
    return item


def scenario(tenants: list[dict[str, Any]], bookings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "chip_types": {"H100": {"throughput": 1.0}, "B200": {"throughput": 2.5}},
        "resources": [
            {"site": "MUC", "chip_type": "H100", "chips": 8},
            {"site": "LUX", "chip_type": "H100", "chips": 8},
            {"site": "MUC", "chip_type": "B200", "chips": 8},
        ],
        "pools": [{"id": "p", "weight": 1}],
        "tenants": tenants,
        "horizon": {"start": START, "hours": 24},
        "bookings": bookings,
    }


def grant(ident: str, hours: float, eligible: list[dict[str, str]]) -> dict[str, Any]:
    return {"id": ident, "eligible": eligible, "normalized_hours": hours}


def placements(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["booking"]: p for p in output["booking"]["placements"]}


def drawn(output: dict[str, Any], ident: str) -> list[tuple[str, float]]:
    return [(d["grant"], d["normalized_hours"]) for d in placements(output)[ident]["drawn"]]


# -- the draw order ------------------------------------------------------------------------------


def test_the_grant_covering_fewest_resources_is_drawn_first_then_the_list_order_and_a_cost_splits() -> None:
    # "wide" is listed first but covers every H100 (two resources); "z" and "a" cover MUC/H100 only,
    # so they are drawn first, "z" before "a" because the tenant lists it first (not by id).
    tenants = [
        {
            "id": "t",
            "pool": "p",
            "grants": [
                grant("wide", 100, [{"chip_type": "H100"}]),
                grant("z", 15, MUC_H100),
                grant("a", 10, MUC_H100),
            ],
        }
    ]
    out = run_scenario(
        scenario(
            tenants,
            [
                booking("b1", "t", 2, 10, MUC_H100, submitted="2027-01-07T01:00:00Z"),  # 20: z 15, then a 5
                booking("b2", "t", 2, 5, MUC_H100, submitted="2027-01-07T02:00:00Z"),  # 10: a 5, then wide 5
                booking(
                    "b3", "t", 1, 4, [{"site": "LUX"}], submitted="2027-01-07T03:00:00Z"
                ),  # 4: only wide covers LUX
            ],
        )
    )
    assert drawn(out, "b1") == [("z", 15.0), ("a", 5.0)]
    assert drawn(out, "b2") == [("a", 5.0), ("wide", 5.0)]
    assert drawn(out, "b3") == [("wide", 4.0)]


def test_the_cost_is_in_normalized_hours_of_the_resource_it_was_placed_on() -> None:
    tenants = [{"id": "t", "pool": "p", "grants": [grant("b200", 5, [{"chip_type": "B200"}])]}]
    out = run_scenario(scenario(tenants, [booking("b", "t", 1, 2)]))
    # 1 chip x 2 h on B200 (throughput 2.5): the H100s listed first are not covered by the grant.
    assert placements(out)["b"]["chip_type"] == "B200"
    assert drawn(out, "b") == [("b200", 5.0)]


def test_the_grants_covering_a_resource_pay_together_and_empty_ones_are_not_listed() -> None:
    tenants = [
        {
            "id": "t",
            "pool": "p",
            "grants": [
                grant("spent", 0, MUC_H100),
                grant("six", 6, MUC_H100),
                grant("wide", 6, [{"chip_type": "H100"}]),
            ],
        }
    ]
    out = run_scenario(scenario(tenants, [booking("b", "t", 1, 10, MUC_H100)]))
    assert drawn(out, "b") == [("six", 6.0), ("wide", 4.0)]


# -- grants replace the quota ----------------------------------------------------------------------


def test_the_quota_is_ignored_when_the_tenant_holds_grants() -> None:
    tenants = [
        {"id": "zero-quota", "pool": "p", "quota": 0, "grants": [grant("g", 10, MUC_H100)]},
        {"id": "big-quota", "pool": "p", "quota": 1000, "grants": [grant("g", 5, MUC_H100)]},
    ]
    out = run_scenario(scenario(tenants, [booking("a", "zero-quota", 1, 10), booking("b", "big-quota", 1, 10)]))
    assert drawn(out, "a") == [("g", 10.0)]
    assert out["booking"]["unplaced"] == [{"booking": "b", "reason": "quota"}]


def test_quota_when_the_grants_covering_the_resources_lack_the_cost() -> None:
    tenants = [
        # Plenty of hours, but on LUX only: a MUC booking cannot draw on them.
        {"id": "elsewhere", "pool": "p", "grants": [grant("lux", 1000, [{"site": "LUX"}])]},
        # 5 + 4 < 10 on MUC/H100, though the tenant holds 109 hours in all.
        {
            "id": "short",
            "pool": "p",
            "grants": [
                grant("muc", 5, MUC_H100),
                grant("wide", 4, [{"chip_type": "H100"}]),
                grant("b200", 100, [{"chip_type": "B200"}]),
            ],
        },
        {"id": "none", "pool": "p", "grants": []},
    ]
    out = run_scenario(
        scenario(
            tenants,
            [
                booking("e", "elsewhere", 1, 10, MUC_H100),
                booking("s", "short", 1, 10, MUC_H100),
                booking("n", "none", 1, 1),
            ],
        )
    )
    assert out["booking"] == {
        "placements": [],
        "unplaced": [
            {"booking": "e", "reason": "quota"},
            {"booking": "n", "reason": "quota"},
            {"booking": "s", "reason": "quota"},
        ],
    }


def test_a_later_booking_finds_the_grant_drawn_down_by_an_earlier_one() -> None:
    tenants = [{"id": "t", "pool": "p", "grants": [grant("g", 15, MUC_H100)]}]
    out = run_scenario(
        scenario(
            tenants,
            [
                booking("first", "t", 1, 10, submitted="2027-01-07T01:00:00Z"),
                booking("second", "t", 1, 10, submitted="2027-01-07T02:00:00Z"),
            ],
        )
    )
    assert drawn(out, "first") == [("g", 10.0)]
    assert out["booking"]["unplaced"] == [{"booking": "second", "reason": "quota"}]


def test_only_placements_of_grant_holders_report_drawn() -> None:
    tenants = [
        {"id": "holder", "pool": "p", "grants": [grant("g", 10, MUC_H100)]},
        {"id": "quota", "pool": "p", "quota": 100},
        {"id": "free", "pool": "p"},
    ]
    out = run_scenario(
        scenario(tenants, [booking("h", "holder", 1, 1), booking("q", "quota", 1, 1), booking("f", "free", 1, 1)])
    )
    assert placements(out)["h"] == {
        "booking": "h",
        "site": "MUC",
        "chip_type": "H100",
        "start": START,
        "drawn": [{"grant": "g", "normalized_hours": 1.0}],
    }
    assert [list(placements(out)[b]) for b in ("q", "f")] == [["booking", "site", "chip_type", "start"]] * 2


def test_grants_resolve_wildcards_in_resource_order_like_a_request() -> None:
    tenants = [{"id": "t", "pool": "p", "grants": [grant("g", 1, [{"site": "MUC"}, {"site": "LUX"}])]}]
    parsed = parse_scenario(scenario(tenants, []))
    assert parsed.tenants is not None
    assert parsed.tenants[0].grants == (TenantGrant("g", (("MUC", "H100"), ("LUX", "H100"), ("MUC", "B200")), 1.0),)


# -- refusals ------------------------------------------------------------------------------------------


def with_grants(grants: Any) -> dict[str, Any]:
    return scenario([{"id": "t", "pool": "p", "grants": grants}], [booking("b", "t", 1, 1)])


ONE = [grant("g", 10, MUC_H100)]


def changed(edit: Callable[[list[dict[str, Any]]], Any]) -> dict[str, Any]:
    grants = copy.deepcopy(ONE)
    edit(grants)
    return with_grants(grants)


REFUSALS: list[tuple[dict[str, Any], str]] = [
    (with_grants({"g": 10}), "tenants[0] (id 't'): grants: must be a JSON list"),
    (with_grants([10]), "tenants[0] (id 't'): grants[0]: must be a JSON object, got 10"),
    (changed(lambda g: g[0].pop("id")), "tenants[0] (id 't'): grants[0]: missing id"),
    (
        changed(lambda g: g[0].update(eligibel=[])),
        "tenants[0] (id 't'): grants[0] (id 'g'): unknown key 'eligibel' (did you mean 'eligible'?)",
    ),
    (changed(lambda g: g[0].update(hours=3)), "tenants[0] (id 't'): grants[0] (id 'g'): unknown key 'hours'"),
    (
        changed(lambda g: g.append(grant("g", 1, MUC_H100))),
        "tenants[0] (id 't'): grants[1] (id 'g'): duplicate id (also grants[0])",
    ),
    (changed(lambda g: g[0].pop("eligible")), "tenants[0] (id 't'): grants[0] (id 'g'): missing eligible"),
    (
        changed(lambda g: g[0].update(eligible=[])),
        "tenants[0] (id 't'): grants[0] (id 'g'): eligible must not be empty",
    ),
    (
        changed(lambda g: g[0].update(eligible=[{"site": "BCN"}])),
        "tenants[0] (id 't'): grants[0] (id 'g'): eligible[0]: matches no resource (site 'BCN')",
    ),
    (
        changed(lambda g: g[0].update(eligible=[{"sight": "MUC"}])),
        "tenants[0] (id 't'): grants[0] (id 'g'): eligible[0]: unknown key 'sight'",
    ),
    (
        changed(lambda g: g[0].pop("normalized_hours")),
        "tenants[0] (id 't'): grants[0] (id 'g'): missing normalized_hours",
    ),
    (
        changed(lambda g: g[0].update(normalized_hours=-1)),
        "tenants[0] (id 't'): grants[0] (id 'g'): normalized_hours must be a non-negative number, got -1",
    ),
    (
        changed(lambda g: g[0].update(normalized_hours="10")),
        "tenants[0] (id 't'): grants[0] (id 'g'): normalized_hours must be a non-negative number, got '10'",
    ),
    (
        changed(lambda g: g[0].update(normalized_hours=1e16)),
        "tenants[0] (id 't'): grants[0] (id 'g'): normalized_hours must be at most 1e+15, got 1e+16",
    ),
    (
        changed(lambda g: g[0].update(normalized_hours=10**400)),
        "tenants[0] (id 't'): grants[0] (id 'g'): normalized_hours must be a non-negative number",
    ),
]


@pytest.mark.parametrize(("data", "message"), REFUSALS, ids=[str(i) for i in range(len(REFUSALS))])
def test_bad_grants_are_refused_with_one_line_naming_the_item(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        parse_scenario(data)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_null_grants_mean_none_and_the_quota_applies() -> None:
    tenants = [{"id": "t", "pool": "p", "quota": 0, "grants": None}]
    out = run_scenario(scenario(tenants, [booking("b", "t", 1, 1)]))
    assert out["booking"]["unplaced"] == [{"booking": "b", "reason": "quota"}]


# -- against a brute-force reading of the contract --------------------------------------------------

T0 = datetime(2027, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)
RESOURCES = (Resource("A", "X", 1.0, 0.0, 6), Resource("A", "Y", 2.0, 0.0, 3), Resource("B", "X", 1.0, 0.0, 8))
KEYS = [r.key for r in RESOURCES]


def brute_force(inp: BookingInput) -> BookingResult:
    """Section 3 as plainly as possible: try every hour, then every resource, in order; draw grant by grant."""
    free = {r.key: [r.chips] * inp.horizon_hours for r in inp.resources}
    theta = {r.key: r.throughput for r in inp.resources}
    tenants = {t.id: t for t in inp.tenants}
    left = {(t.id, g.id): g.normalized_hours for t in inp.tenants for g in t.grants or ()}
    placed, unplaced = [], []
    for b in sorted(inp.bookings, key=lambda b: (-inp.fair_share.get(b.tenant, 1.0), b.submitted_at, b.id)):
        grants = tenants[b.tenant].grants or ()
        covering = {
            k: sorted((g for g in grants if k in g.eligible), key=lambda g: (len(g.eligible), grants.index(g)))
            for k in KEYS
        }
        cost = {k: b.chips * b.hours * theta[k] for k in KEYS}
        keys = [k for k in KEYS if k in b.eligible and cost[k] <= sum(left[b.tenant, g.id] for g in covering[k])]
        lo, hi = max((b.earliest_start - T0) // H, 0), min((b.latest_end - T0) // H, inp.horizon_hours)
        found = next(
            (
                (t, k)
                for t in range(lo, hi - b.hours + 1)
                for k in keys
                if all(free[k][h] >= b.chips for h in range(t, t + b.hours))
            ),
            None,
        )
        if hi - lo < b.hours or found is None:
            unplaced.append(Unplaced(b.id, "window" if hi - lo < b.hours else "quota" if not keys else "capacity"))
            continue
        t, k = found
        for h in range(t, t + b.hours):
            free[k][h] -= b.chips
        due, draws = cost[k], []
        for g in covering[k]:
            take = min(left[b.tenant, g.id], due)
            if take > 0:
                left[b.tenant, g.id] -= take
                due -= take
                draws.append(Drawn(g.id, take))
        placed.append(Placement(b.id, k[0], k[1], T0 + t * H, tuple(draws)))
    return BookingResult(tuple(placed), tuple(unplaced))


@st.composite
def inputs_with_grants(draw: st.DrawFn) -> BookingInput:
    horizon = draw(st.integers(1, 24))
    eligible = st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True).map(tuple)
    tenants = tuple(
        Tenant(
            f"t{i}",
            "p",
            grants=tuple(
                TenantGrant(f"g{j}", draw(eligible), float(draw(st.integers(0, 60))))
                for j in range(draw(st.integers(0, 4)))
            ),
        )
        for i in range(3)
    )
    bookings = tuple(
        BookingAsk(
            f"b{i}",
            draw(st.sampled_from(["t0", "t1", "t2"])),
            draw(st.integers(1, 6)),
            draw(st.integers(1, 8)),
            T0 + draw(st.integers(0, horizon)) * H,
            T0 + draw(st.integers(0, horizon + 2)) * H,
            T0 - draw(st.integers(0, 3)) * H,
            draw(eligible),
        )
        for i in range(draw(st.integers(0, 20)))
    )
    return BookingInput(RESOURCES, tenants, T0, horizon, (), bookings, {"t0": 1.0, "t1": 0.5, "t2": 0.25})


@settings(max_examples=300, deadline=None)
@given(inputs_with_grants())
def test_the_engine_matches_a_brute_force_reading_and_never_overdraws_a_grant(inp: BookingInput) -> None:
    result = place_bookings(inp)
    assert result == brute_force(inp)

    asks = {b.id: b for b in inp.bookings}
    theta = {r.key: r.throughput for r in inp.resources}
    spent: dict[tuple[str, str], float] = defaultdict(float)
    for p in result.placements:
        ask, key = asks[p.booking], (p.site, p.chip_type)
        grants = {g.id: g for g in next(t for t in inp.tenants if t.id == ask.tenant).grants or ()}
        assert math.fsum(d.normalized_hours for d in p.drawn) == ask.chips * ask.hours * theta[key]
        assert all(key in grants[d.grant].eligible and d.normalized_hours > 0 for d in p.drawn)
        for d in p.drawn:
            spent[ask.tenant, d.grant] += d.normalized_hours
    for tenant in inp.tenants:
        for g in tenant.grants or ():
            assert spent[tenant.id, g.id] <= g.normalized_hours


def test_a_tenant_without_grants_draws_nothing() -> None:
    inp = BookingInput(
        RESOURCES,
        (Tenant("t", "p", quota=10.0),),
        T0,
        4,
        (),
        (BookingAsk("b", "t", 1, 2, T0, T0 + 4 * H, T0, (KEYS[0],)),),
        {},
    )
    assert place_bookings(inp).placements == (Placement("b", "A", "X", T0, ()),)


def test_float_dust_the_tolerance_admits_is_charged_to_the_last_grant_drawn() -> None:
    # The grants hold 0.3 together; the cost, 0.3000000001, is within the engine's 1e-9 tolerance of it.
    odd = Resource("A", "Z", 0.3000000001, 0.0, 2)
    grants = (TenantGrant("a", (odd.key,), 0.1), TenantGrant("b", (odd.key,), 0.2))
    asks = tuple(BookingAsk(i, "t", 1, 1, T0, T0 + 2 * H, T0 + n * H, (odd.key,)) for n, i in enumerate("xy"))
    result = place_bookings(BookingInput((odd,), (Tenant("t", "p", grants=grants),), T0, 2, (), asks, {}))
    (placed,) = result.placements
    assert [d.grant for d in placed.drawn] == ["a", "b"]
    assert math.fsum(d.normalized_hours for d in placed.drawn) == pytest.approx(0.3000000001, rel=1e-15)
    assert result.unplaced == (Unplaced("y", "quota"),)
