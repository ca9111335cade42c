"""Issue 11, items 7 and 8: the scenario format's stated limits and keys.

Invariants checked: a key the format does not have is refused at every
level, naming the item and the closest known key; figures beyond the limits
of ``limits.py`` (1e15, weights 1e-30..1e30, throughput 1e-3..1e3, a horizon
of two years, usage 64 half-lives after ``now``, times past year 1 or 9999)
are refused with one line naming the item; the issue's weights 1 and 1e-17
run and grant 4 + 6 on a capacity of 10; every output is valid JSON.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from allocation.fairshare.scenario import ScenarioError, dump_result, parse_scenario, run_scenario

pytestmark = pytest.mark.engine

AT = "2027-01-08T00:00:00Z"
BASE: dict[str, Any] = {
    "chip_types": {"H100": {"throughput": 1.0}},
    "resources": [{"site": "MUC", "chip_type": "H100", "capacity_gpu_hours": 10, "chips": 4}],
    "pools": [{"id": "big", "weight": 1}, {"id": "small", "weight": 1}],
    "tenants": [
        {"id": "tb", "pool": "big", "usage": [{"at": "2027-01-01T00:00:00Z", "normalized_hours": 40}]},
        {"id": "ts", "pool": "small"},
    ],
    "requests": [
        {"id": "rb", "tenant": "tb", "demand": 4, "eligible": [{"site": "MUC"}]},
        {"id": "rs", "tenant": "ts", "demand": 20},
    ],
    "now": AT,
    "horizon": {"start": AT, "hours": 48},
    "reserved": [{"site": "MUC", "chip_type": "H100", "chips": 1, "start": AT, "end": "2027-01-09T00:00:00Z"}],
    "bookings": [
        {
            "id": "b1",
            "tenant": "ts",
            "chips": 2,
            "hours": 3,
            "earliest_start": AT,
            "latest_end": "2027-01-09T00:00:00Z",
            "submitted_at": "2027-01-07T00:00:00Z",
        },
    ],
}


def changed(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def test_the_base_scenario_runs() -> None:
    output = run_scenario(copy.deepcopy(BASE))
    assert set(output) == {"allocation", "fair_share", "booking"}


UNKNOWN_KEYS = [
    pytest.param(
        lambda d: d.__setitem__("requestz", d.pop("requests")),
        "scenario: unknown key 'requestz' (did you mean 'requests'?)",
        id="top-level",
    ),
    pytest.param(
        lambda d: d["chip_types"]["H100"].__setitem__("speed", 2),
        "chip_types.H100: unknown key 'speed'",
        id="chip-type",
    ),
    pytest.param(
        lambda d: d["resources"][0].__setitem__("capacity", 5),
        "resources[0] (MUC/H100): unknown key 'capacity'",
        id="resource",
    ),
    pytest.param(
        lambda d: d["pools"][1].__setitem__("wieght", 5),
        "pools[1] (id 'small'): unknown key 'wieght' (did you mean 'weight'?)",
        id="pool",
    ),
    pytest.param(
        lambda d: d["tenants"][1].__setitem__("wieght", 2),
        "tenants[1] (id 'ts'): unknown key 'wieght' (did you mean 'weight'?)",
        id="tenant",
    ),
    pytest.param(
        lambda d: d["tenants"][0]["usage"][0].__setitem__("hours", 2),
        "tenants[0] (id 'tb'): usage[0]: unknown key 'hours'",
        id="usage",
    ),
    pytest.param(
        lambda d: d["requests"][0].__setitem__("demnad", 2),
        "requests[0] (id 'rb'): unknown key 'demnad' (did you mean 'demand'?)",
        id="request",
    ),
    pytest.param(lambda d: d["horizon"].__setitem__("end", AT), "horizon: unknown key 'end'", id="horizon"),
    pytest.param(
        lambda d: d["reserved"][0].__setitem__("reason", "upgrade"),
        "reserved[0] (MUC/H100): unknown key 'reason'",
        id="reserved",
    ),
    pytest.param(
        lambda d: d["bookings"][0].__setitem__("elegible", [{"site": "MUC"}]),
        "bookings[0] (id 'b1'): unknown key 'elegible' (did you mean 'eligible'?)",
        id="booking",
    ),
]

LIMITS = [
    pytest.param(
        lambda d: d["horizon"].__setitem__("hours", 1e12),
        "horizon: hours must be at most 17568 (two years), got 1000000000000.0",
        id="horizon-1e12",
    ),
    pytest.param(
        lambda d: d["horizon"].__setitem__("hours", 17569),
        "horizon: hours must be at most 17568 (two years), got 17569",
        id="horizon-just-over",
    ),
    pytest.param(
        lambda d: d["horizon"].__setitem__("start", "9999-12-31T00:00:00Z"),
        "horizon: ends after the year 9999",
        id="horizon-past-9999",
    ),
    pytest.param(
        lambda d: d["tenants"][0]["usage"][0].__setitem__("at", "2046-08-24T00:00:00Z"),
        "tenants[0] (id 'tb'): usage[0]: at is 1024 half-lives after now (at most 64)",
        id="usage-far-ahead",
    ),
    pytest.param(
        lambda d: d["tenants"][0]["usage"][0].__setitem__("normalized_hours", 1e308),
        "tenants[0] (id 'tb'): usage[0]: normalized_hours must be at most 1e+15, got 1e+308",
        id="usage-1e308",
    ),
    pytest.param(
        lambda d: d["requests"][1].__setitem__("demand", 1e308),
        "requests[1] (id 'rs'): demand must be at most 1e+15, got 1e+308",
        id="demand-1e308",
    ),
    pytest.param(
        lambda d: d["resources"][0].__setitem__("capacity_gpu_hours", 1e16),
        "resources[0] (MUC/H100): capacity_gpu_hours must be at most 1e+15",
        id="capacity",
    ),
    pytest.param(
        lambda d: d["resources"][0].__setitem__("chips", 10**16),
        "resources[0] (MUC/H100): chips must be at most 1e+15",
        id="chips",
    ),
    pytest.param(
        lambda d: d["tenants"][0].__setitem__("quota", 1e300),
        "tenants[0] (id 'tb'): quota must be at most 1e+15",
        id="quota",
    ),
    pytest.param(
        lambda d: d["pools"][1].__setitem__("weight", 1e-31),
        "pools[1] (id 'small'): weight must be between 1e-30 and 1e+30, got 1e-31",
        id="pool-weight-tiny",
    ),
    pytest.param(
        lambda d: d["tenants"][1].__setitem__("weight", 1e31),
        "tenants[1] (id 'ts'): weight must be between 1e-30 and 1e+30",
        id="tenant-weight-huge",
    ),
    pytest.param(
        lambda d: d["chip_types"]["H100"].__setitem__("throughput", 1e-9),
        "chip_types.H100: throughput must be between 0.001 and 1000",
        id="throughput",
    ),
    pytest.param(
        lambda d: d.__setitem__("now", "0001-01-01T00:00:00+05:00"),
        "now must be a UTC time like 2027-01-08T00:00:00Z",
        id="time-before-year-1",
    ),
]


@pytest.mark.parametrize(("change", "message"), UNKNOWN_KEYS + LIMITS)
def test_refused_with_one_line_naming_the_item(change: Callable[[dict[str, Any]], Any], message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(changed(change))
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_the_issues_extreme_weights_grant_within_capacity() -> None:
    data = changed(lambda d: d["pools"][1].__setitem__("weight", 1e-17))
    output = run_scenario(data)["allocation"]
    assert output["requests"] == {"rb": 4.0, "rs": 6.0}
    assert sum(g["gpu_hours"] for g in output["grants"]) == 10.0


def test_huge_but_allowed_figures_give_valid_json() -> None:
    def huge(d: dict[str, Any]) -> None:
        d["resources"][0]["capacity_gpu_hours"] = 1e15
        d["requests"][1]["demand"] = 1e15
        d["requests"][0]["demand"] = 1e15
        d["tenants"][1]["usage"] = [{"at": AT, "normalized_hours": 1e15}] * 3
        d["tenants"][0]["usage"][0]["at"] = "2028-03-01T00:00:00Z"  # 60 half-lives ahead
        d["pools"][1]["weight"] = 1e30
        d["tenants"][0]["weight"] = 1e-30

    text = dump_result(run_scenario(changed(huge)))
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the output"))
