"""Booking round (section 3): reasons, rounding, order, ties, invariants.

Invariants checked: each of ``window``, ``quota``, ``capacity``; window edges
rounded inwards and reservations outwards; F, then submitted_at, then id;
earliest start first, then the scenario's first resource; reserved chips
respected; property tests that no hour of a resource is over its chips, no
tenant over its quota, each booking decided once, placements inside window
and horizon, and that the segment-tree search agrees with a naive scan.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocation.fairshare.booking_round import place_bookings
from allocation.fairshare.types import (
    BookingAsk,
    BookingInput,
    BookingResult,
    Placement,
    Reservation,
    Resource,
    ResourceKey,
    Tenant,
    Unplaced,
)

pytestmark = pytest.mark.engine

T0 = datetime(2027, 1, 8, tzinfo=UTC)
H = timedelta(hours=1)
MUC_H100 = Resource("MUC", "H100", 1.0, 1000.0, 4)
MUC_B200 = Resource("MUC", "B200", 2.5, 200.0, 2)
BOTH: tuple[ResourceKey, ...] = (MUC_H100.key, MUC_B200.key)


def ask(
    id: str,
    tenant: str = "t1",
    chips: int = 1,
    hours: int = 1,
    start: datetime = T0,
    end: datetime = T0 + 720 * H,
    submitted: datetime = T0 - 24 * H,
    eligible: tuple[ResourceKey, ...] = BOTH,
) -> BookingAsk:
    return BookingAsk(id, tenant, chips, hours, start, end, submitted, eligible)


def run(
    bookings: list[BookingAsk],
    *,
    resources: tuple[Resource, ...] = (MUC_H100, MUC_B200),
    tenants: tuple[Tenant, ...] = (Tenant("t1", "p"), Tenant("t2", "p")),
    reserved: tuple[Reservation, ...] = (),
    fair_share: dict[str, float] | None = None,
    hours: int = 720,
) -> BookingResult:
    return place_bookings(
        BookingInput(
            resources=resources,
            tenants=tenants,
            horizon_start=T0,
            horizon_hours=hours,
            reserved=reserved,
            bookings=tuple(bookings),
            fair_share=fair_share or {},
        )
    )


def test_spec_example_booking_section() -> None:
    result = run(
        [
            ask("b1", "t1", 2, 10, T0, T0 + 48 * H, T0 - 12 * H, (MUC_H100.key,)),
            ask("b2", "a1", 4, 30, T0, T0 + 24 * H, T0 - 11 * H),
        ],
        tenants=(Tenant("t1", "public", 1.0, 200.0), Tenant("a1", "acme", 1.0, 1000.0)),
        reserved=(Reservation("MUC", "H100", 2, T0, T0 + 24 * H),),
        fair_share={"t1": 0.39685, "a1": 1.0},
    )
    assert result.placements == (Placement("b1", "MUC", "H100", T0),)
    assert result.unplaced == (Unplaced("b2", "window"),)


def test_each_reason() -> None:
    result = run(
        [
            ask("w", hours=5, start=T0, end=T0 + 4 * H),
            ask("q", tenant="t2", chips=2, hours=10),
            ask("c", chips=5, hours=1),
        ],
        tenants=(Tenant("t1", "p"), Tenant("t2", "p", quota=19.0)),
    )
    assert result.placements == ()
    assert result.unplaced == (
        Unplaced("c", "capacity"),
        Unplaced("q", "quota"),
        Unplaced("w", "window"),
    )


def test_window_beats_quota_and_quota_beats_capacity() -> None:
    tenants = (Tenant("t1", "p", quota=0.0),)
    result = run([ask("a", chips=99, hours=800), ask("b", chips=99)], tenants=tenants)
    assert result.unplaced == (Unplaced("a", "window"), Unplaced("b", "quota"))


def test_window_edges_are_rounded_inwards() -> None:
    start, end = T0 + 30 * timedelta(minutes=1), T0 + 10 * H + 59 * timedelta(minutes=1)
    # [00:30, 10:59) rounds to [01:00, 10:00): 9 hours fit, 10 do not.
    result = run([ask("fits", hours=9, start=start, end=end), ask("no", hours=10, start=start, end=end)])
    assert result.placements == (Placement("fits", "MUC", "H100", T0 + H),)
    assert result.unplaced == (Unplaced("no", "window"),)


def test_window_is_clipped_to_the_horizon() -> None:
    result = run(
        [
            ask("early", hours=3, start=T0 - 10 * H, end=T0 + 3 * H),
            ask("late", hours=3, start=T0 + 20 * H, end=T0 + 40 * H),
            ask("outside", hours=1, start=T0 - 5 * H, end=T0),
        ],
        hours=22,
    )
    # "early" is clipped to [T0, T0+3h); "late" would end past the 22-hour horizon.
    assert result.placements == (Placement("early", "MUC", "H100", T0),)
    assert result.unplaced == (Unplaced("late", "window"), Unplaced("outside", "window"))


def test_horizon_end_bounds_the_placement() -> None:
    result = run([ask("late", hours=3, start=T0 + 20 * H, end=T0 + 40 * H)], hours=22)
    assert result.unplaced == (Unplaced("late", "window"),)
    result = run([ask("late", hours=2, start=T0 + 20 * H, end=T0 + 40 * H)], hours=22)
    assert result.placements == (Placement("late", "MUC", "H100", T0 + 20 * H),)


def test_order_is_factor_then_submitted_at_then_id() -> None:
    one = (MUC_H100.key,)
    whole = {"chips": 4, "hours": 720, "eligible": one}
    result = run(
        [
            ask("b1", "t1", submitted=T0 - 5 * H, **whole),  # type: ignore[arg-type]
            ask("b2", "t2", submitted=T0 - 1 * H, **whole),  # type: ignore[arg-type]
        ],
        fair_share={"t1": 0.3, "t2": 0.9},
    )
    assert result.placements == (Placement("b2", "MUC", "H100", T0),)
    # Same F: the earlier submission wins.
    result = run(
        [
            ask("b1", "t1", submitted=T0 - 1 * H, **whole),  # type: ignore[arg-type]
            ask("b2", "t2", submitted=T0 - 5 * H, **whole),  # type: ignore[arg-type]
        ],
        fair_share={"t1": 0.5, "t2": 0.5},
    )
    assert result.placements[0].booking == "b2"
    # Same F and submission: the smaller id wins ("b10" < "b9" as strings).
    result = run(
        [
            ask("b9", "t1", **whole),  # type: ignore[arg-type]
            ask("b10", "t2", **whole),  # type: ignore[arg-type]
        ]
    )
    assert result.placements[0].booking == "b10"
    assert result.unplaced == (Unplaced("b9", "capacity"),)


def test_missing_factor_counts_as_one() -> None:
    one = (MUC_H100.key,)
    result = run(
        [ask("a", "t1", chips=4, hours=720, eligible=one), ask("b", "t2", chips=4, hours=720, eligible=one)],
        fair_share={"t1": 0.99},
    )
    assert result.placements[0].booking == "b"


def test_first_resource_in_the_scenario_list_breaks_ties() -> None:
    reverse = (MUC_B200.key, MUC_H100.key)
    result = run([ask("a", chips=2, eligible=reverse)])
    assert result.placements == (Placement("a", "MUC", "H100", T0),)
    result = run([ask("a", chips=2, eligible=reverse)], resources=(MUC_B200, MUC_H100))
    assert result.placements == (Placement("a", "MUC", "B200", T0),)


def test_earliest_start_beats_list_order() -> None:
    reserved = (Reservation("MUC", "H100", 3, T0, T0 + 5 * H),)
    result = run([ask("a", chips=2, hours=2)], reserved=reserved)
    assert result.placements == (Placement("a", "MUC", "B200", T0),)
    result = run([ask("a", chips=3, hours=2)], reserved=reserved)
    assert result.placements == (Placement("a", "MUC", "H100", T0 + 5 * H),)


def test_reserved_chips_are_respected_with_edges_rounded_outwards() -> None:
    half = timedelta(minutes=30)
    reserved = (Reservation("MUC", "H100", 3, T0 + H + half, T0 + 2 * H + half),)
    # Hours 1 and 2 hold 3 chips, so 2 chips for 2 hours first fit at hour 3.
    result = run([ask("a", chips=2, hours=2, start=T0 + H, eligible=(MUC_H100.key,))], reserved=reserved)
    assert result.placements == (Placement("a", "MUC", "H100", T0 + 3 * H),)
    # One chip still fits beside the reservation.
    result = run([ask("a", chips=1, hours=2, start=T0 + H, eligible=(MUC_H100.key,))], reserved=reserved)
    assert result.placements == (Placement("a", "MUC", "H100", T0 + H),)


def test_quota_picks_the_affordable_resource_and_is_consumed() -> None:
    tenants = (Tenant("t1", "p", quota=45.0),)
    # 2 chips x 10 h costs 20 on H100 and 50 on B200: only H100 is affordable.
    result = run(
        [
            ask("a", chips=2, hours=10, submitted=T0 - 3 * H, eligible=(MUC_B200.key, MUC_H100.key)),
            ask("b", chips=2, hours=10, submitted=T0 - 2 * H),
            ask("c", chips=2, hours=3, submitted=T0 - 1 * H),
        ],
        resources=(MUC_B200, MUC_H100),
        tenants=tenants,
    )
    assert result.placements == (
        Placement("a", "MUC", "H100", T0),
        Placement("b", "MUC", "H100", T0),
    )
    # 45 - 20 - 20 = 5 left; 2 x 3 x 1.0 = 6 > 5.
    assert result.unplaced == (Unplaced("c", "quota"),)


def test_placed_bookings_hold_chips_for_the_rest_of_the_round() -> None:
    one = (MUC_H100.key,)
    result = run([ask(f"b{i}", chips=2, hours=4, submitted=T0 - (10 - i) * H, eligible=one) for i in range(5)])
    starts = [p.start for p in result.placements]
    assert starts == [T0, T0, T0 + 4 * H, T0 + 4 * H, T0 + 8 * H]


# -- property tests --------------------------------------------------------------------------


def naive_place(inp: BookingInput) -> BookingResult:
    """The contract written as plainly as possible, O(everything)."""
    grid = {r.key: [r.chips] * inp.horizon_hours for r in inp.resources}
    for held in inp.reserved:
        first = (held.start - inp.horizon_start) // H
        last = -((inp.horizon_start - held.end) // H)
        for hour in range(max(first, 0), min(last, inp.horizon_hours)):
            grid[(held.site, held.chip_type)][hour] -= held.chips
    theta = {r.key: r.throughput for r in inp.resources}
    quota = {t.id: t.quota for t in inp.tenants}
    order = sorted(inp.bookings, key=lambda b: (-inp.fair_share.get(b.tenant, 1.0), b.submitted_at, b.id))
    placed, unplaced = [], []
    for b in order:
        lo = max(-((inp.horizon_start - b.earliest_start) // H), 0)
        hi = min((b.latest_end - inp.horizon_start) // H, inp.horizon_hours)
        if hi - lo < b.hours:
            unplaced.append(Unplaced(b.id, "window"))
            continue
        left = quota[b.tenant]
        keys = [r.key for r in inp.resources if r.key in b.eligible]
        costs = {k: b.chips * b.hours * theta[k] for k in keys}
        ok = [k for k in keys if left is None or costs[k] <= left + 1e-9 * max(1.0, abs(left))]
        if keys and not ok:
            unplaced.append(Unplaced(b.id, "quota"))
            continue
        found = None
        for t in range(lo, hi - b.hours + 1):
            for k in ok:
                if all(grid[k][h] >= b.chips for h in range(t, t + b.hours)):
                    found = (t, k)
                    break
            if found:
                break
        if found is None:
            unplaced.append(Unplaced(b.id, "capacity"))
            continue
        t, k = found
        for h in range(t, t + b.hours):
            grid[k][h] -= b.chips
        if left is not None:
            quota[b.tenant] = left - costs[k]
        placed.append(Placement(b.id, k[0], k[1], inp.horizon_start + t * H))
    return BookingResult(tuple(placed), tuple(unplaced))


RESOURCES = (
    Resource("A", "X", 1.0, 0.0, 6),
    Resource("A", "Y", 2.0, 0.0, 3),
    Resource("B", "X", 1.0, 0.0, 8),
)
KEYS = [r.key for r in RESOURCES]


@st.composite
def booking_inputs(draw: st.DrawFn) -> BookingInput:
    horizon = draw(st.integers(1, 40))
    tenants = tuple(Tenant(f"t{i}", "p", 1.0, draw(st.one_of(st.none(), st.floats(0, 200)))) for i in range(3))
    minute = timedelta(minutes=1)
    moment = st.integers(-5 * 60, (horizon + 5) * 60).map(lambda m: T0 + m * minute)
    reserved = tuple(
        Reservation(*draw(st.sampled_from(KEYS)), draw(st.integers(0, 5)), s, s + d * minute)
        for s, d in draw(st.lists(st.tuples(moment, st.integers(0, 600)), max_size=4))
    )
    bookings = []
    for i in range(draw(st.integers(0, 25))):
        start = draw(moment)
        bookings.append(
            BookingAsk(
                f"b{i}",
                draw(st.sampled_from([t.id for t in tenants])),
                draw(st.integers(1, 9)),
                draw(st.integers(1, 12)),
                start,
                start + draw(st.integers(0, 30 * 60)) * minute,
                T0 - draw(st.integers(0, 3)) * H,
                tuple(draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))),
            )
        )
    fair_share = {t.id: draw(st.sampled_from([0.25, 0.5, 1.0])) for t in tenants}
    return BookingInput(RESOURCES, tenants, T0, horizon, reserved, tuple(bookings), fair_share)


@settings(max_examples=300, deadline=None)
@given(booking_inputs())
def test_invariants_hold_and_the_search_matches_a_naive_scan(inp: BookingInput) -> None:
    result = place_bookings(inp)
    assert result == naive_place(inp)

    decided = Counter([p.booking for p in result.placements] + [u.booking for u in result.unplaced])
    assert decided == Counter(b.id for b in inp.bookings)
    assert all(u.reason in {"window", "quota", "capacity"} for u in result.unplaced)

    asks = {b.id: b for b in inp.bookings}
    theta = {r.key: r.throughput for r in inp.resources}
    used: dict[tuple[ResourceKey, int], int] = Counter()
    spent: dict[str, float] = defaultdict(float)
    for p in result.placements:
        b = asks[p.booking]
        key = (p.site, p.chip_type)
        assert key in b.eligible
        assert p.start >= b.earliest_start and p.start >= inp.horizon_start
        assert p.start + b.hours * H <= b.latest_end
        assert p.start + b.hours * H <= inp.horizon_start + inp.horizon_hours * H
        first = (p.start - inp.horizon_start) // H
        for hour in range(first, first + b.hours):
            used[(key, hour)] += b.chips
        spent[b.tenant] += b.chips * b.hours * theta[key]
    for r in inp.resources:
        for hour in range(inp.horizon_hours):
            moment = inp.horizon_start + hour * H
            held = sum(
                x.chips
                for x in inp.reserved
                if (x.site, x.chip_type) == r.key and x.start < moment + H and x.end > moment
            )
            if used[(r.key, hour)]:
                assert used[(r.key, hour)] + held <= r.chips
    for t in inp.tenants:
        if t.quota is not None:
            assert spent[t.id] <= t.quota + 1e-6
