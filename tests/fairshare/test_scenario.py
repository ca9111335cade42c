"""Scenario JSON (the ``simulate`` format): parse, validate, run, render.

Invariants checked: docs/examples/scenario.json gives docs/examples/output.json (fair share to
5 places, the rest exactly); each round's key appears only when it ran;
wildcards resolve in resource order; every bad input gives one ScenarioError
line naming the offending item; rendering is deterministic.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from allocation.fairshare.scenario import (
    ScenarioError,
    dump_result,
    load_scenario_file,
    load_scenario_text,
    parse_scenario,
    render_allocation,
    run_scenario,
)
from allocation.fairshare.types import AllocationResult, Grant

pytestmark = pytest.mark.engine

# The contract's worked example (docs/contract.md), kept in the repository so
# these tests run in any checkout.
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _example_file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def example() -> dict[str, Any]:
    return _example_file("scenario.json")


def expected() -> dict[str, Any]:
    return _example_file("output.json")


def rounded_fair_share(output: dict[str, Any]) -> dict[str, Any]:
    output = copy.deepcopy(output)
    output["fair_share"] = {k: round(v, 5) for k, v in output["fair_share"].items()}
    return output


def test_spec_example_gives_the_spec_answer() -> None:
    assert rounded_fair_share(run_scenario(example())) == expected()


def test_spec_example_without_requests_skips_the_allocation_round() -> None:
    data = example()
    del data["requests"]
    output = run_scenario(data)
    assert list(output) == ["fair_share", "booking"]
    want = expected()
    del want["allocation"]
    assert rounded_fair_share(output) == want
    # At least 6 significant digits, in fact full float precision.
    assert output["fair_share"]["t1"] == pytest.approx(2 ** (-4 / 3), rel=1e-12)


def test_only_the_rounds_present_are_rendered() -> None:
    data = {"chip_types": {}, "pools": [{"id": "p", "weight": 1}], "tenants": [{"id": "t", "pool": "p"}]}
    assert run_scenario(data) == {"fair_share": {"t": 1.0}}
    assert run_scenario({}) == {}


def test_wildcards_resolve_in_resource_order() -> None:
    data = example()
    data["resources"].append({"site": "BCN", "chip_type": "H100", "capacity_gpu_hours": 1, "chips": 1})
    data["requests"] = [
        {"id": "all", "tenant": "t1", "demand": 1},
        {"id": "h100", "tenant": "t1", "demand": 1, "eligible": [{"chip_type": "H100"}]},
        {"id": "muc", "tenant": "t1", "demand": 1, "eligible": [{"site": "MUC"}]},
        {
            "id": "mixed",
            "tenant": "t1",
            "demand": 1,
            "eligible": [{"site": "BCN"}, {"site": "MUC", "chip_type": "B200"}, {"site": "BCN"}],
        },
    ]
    requests = parse_scenario(data).requests
    assert requests is not None
    assert [r.eligible for r in requests] == [
        (("MUC", "H100"), ("MUC", "B200"), ("BCN", "H100")),
        (("MUC", "H100"), ("BCN", "H100")),
        (("MUC", "H100"), ("MUC", "B200")),
        (("MUC", "B200"), ("BCN", "H100")),
    ]


def test_parsed_values() -> None:
    scenario = parse_scenario(example())
    assert [t.quota for t in scenario.tenants or ()] == [200.0, 1000.0]
    assert [t.weight for t in scenario.tenants or ()] == [1.0, 1.0]
    assert scenario.half_life_hours == 168.0
    assert scenario.horizon_hours == 720
    assert scenario.resources[1].throughput == 2.5
    assert scenario.resources[0].chips == 4
    data = example()
    del data["half_life_hours"]
    data["now"] = "2027-01-08T01:00:00+01:00"  # the same instant as 00:00Z
    assert parse_scenario(data).half_life_hours == 168.0
    assert run_scenario(data) == run_scenario(example())


def test_render_sorts_grants_rounds_noise_and_lists_everyone() -> None:
    data = example()
    data["requests"].append({"id": "r3", "tenant": "t1", "demand": 0})
    scenario = parse_scenario(data)
    result = AllocationResult(
        pools={"public": 500.0000000000001},
        tenants={"t1": 499.99999999999994},
        requests={"r1": 500.0, "r2": -0.0},
        grants=(
            Grant("r2", "MUC", "B200", 200.0),
            Grant("r1", "MUC", "H100", 500.0),
            Grant("r2", "MUC", "H100", 0.0),
        ),
        explanations={"t1": "saturated"},
    )
    rendered = render_allocation(scenario, result, explain=True)
    assert rendered == {
        "pools": {"public": 500.0, "acme": 0.0},
        "tenants": {"t1": 500.0, "a1": 0.0},
        "requests": {"r1": 500.0, "r2": 0.0, "r3": 0.0},
        "grants": [
            {"request": "r1", "site": "MUC", "chip_type": "H100", "gpu_hours": 500.0},
            {"request": "r2", "site": "MUC", "chip_type": "B200", "gpu_hours": 200.0},
        ],
        "explanations": {"t1": "saturated", "a1": ""},
    }
    assert "-0.0" not in json.dumps(rendered)


def test_explain_adds_one_sentence_per_tenant() -> None:
    output = run_scenario(example(), explain=True)
    explanations = output["allocation"]["explanations"]
    assert list(explanations) == ["t1", "a1"]
    assert all(isinstance(text, str) and text for text in explanations.values())
    assert "explanations" not in run_scenario(example())["allocation"]


def test_same_input_same_bytes() -> None:
    assert dump_result(run_scenario(example())) == dump_result(run_scenario(example()))


def test_times_are_written_in_utc_with_z() -> None:
    data = example()
    del data["requests"]
    data["horizon"]["start"] = "2027-01-08T01:00:00+01:00"
    placement = run_scenario(data)["booking"]["placements"][0]
    assert placement["start"] == "2027-01-08T00:00:00Z"


# -- bad input: one line naming the item ------------------------------------------------------


def broken(change: Any) -> dict[str, Any]:
    data = example()
    change(data)
    return data


def _set(path: list[Any], value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


_DELETE = object()

BAD = [
    pytest.param(
        _set(["requests", 1, "demand"], -5),
        "requests[1] (id 'r2'): demand must be a non-negative number, got -5",
        id="negative-demand",
    ),
    pytest.param(
        _set(["requests", 1, "demand"], "lots"),
        "requests[1] (id 'r2'): demand must be a non-negative number, got 'lots'",
        id="non-numeric-demand",
    ),
    pytest.param(
        _set(["requests", 0, "demand"], True),
        "requests[0] (id 'r1'): demand must be a non-negative number, got true",
        id="boolean-demand",
    ),
    pytest.param(
        _set(["requests", 0, "tenant"], "ghost"),
        "requests[0] (id 'r1'): unknown tenant 'ghost'",
        id="unknown-tenant",
    ),
    pytest.param(
        _set(["requests", 1, "id"], "r1"),
        "requests[1] (id 'r1'): duplicate id (also requests[0])",
        id="duplicate-request",
    ),
    pytest.param(
        _set(["requests", 0, "id"], _DELETE),
        "requests[0]: missing id",
        id="missing-id",
    ),
    pytest.param(
        _set(["requests", 0, "eligible"], [{"site": "XYZ"}]),
        "requests[0] (id 'r1'): eligible[0]: matches no resource (site 'XYZ')",
        id="eligible-nothing",
    ),
    pytest.param(
        _set(["requests", 0, "eligible"], [{"sites": "MUC"}]),
        "requests[0] (id 'r1'): eligible[0]: unknown key 'sites'",
        id="eligible-typo",
    ),
    pytest.param(
        _set(["requests", 0, "demand"], 10**400),
        "requests[0] (id 'r1'): demand must be a non-negative number, got 1000000",
        id="demand-beyond-float",
    ),
    pytest.param(
        _set(["requests", 0, "eligible"], []),
        "requests[0] (id 'r1'): eligible must not be empty",
        id="eligible-empty",
    ),
    pytest.param(
        _set(["tenants", 0, "pool"], "pub"),
        "tenants[0] (id 't1'): unknown pool 'pub'",
        id="unknown-pool",
    ),
    pytest.param(
        _set(["tenants", 1, "id"], "t1"),
        "tenants[1] (id 't1'): duplicate id (also tenants[0])",
        id="duplicate-tenant",
    ),
    pytest.param(
        _set(["tenants", 0, "weight"], 0),
        "tenants[0] (id 't1'): weight must be a positive number, got 0",
        id="zero-weight",
    ),
    pytest.param(
        _set(["tenants", 0, "quota"], -1),
        "tenants[0] (id 't1'): quota must be a non-negative number, got -1",
        id="negative-quota",
    ),
    pytest.param(
        _set(["tenants", 0, "usage", 0, "at"], "yesterday"),
        "tenants[0] (id 't1'): usage[0]: at must be a UTC time like 2027-01-08T00:00:00Z, got 'yesterday'",
        id="malformed-time",
    ),
    pytest.param(
        _set(["tenants", 0, "usage", 0, "at"], "2027-01-01T00:00:00"),
        "tenants[0] (id 't1'): usage[0]: at must be a UTC time",
        id="naive-time",
    ),
    pytest.param(
        _set(["tenants", 0, "usage", 0, "normalized_hours"], -3),
        "tenants[0] (id 't1'): usage[0]: normalized_hours must be a non-negative number, got -3",
        id="negative-usage",
    ),
    pytest.param(
        _set(["pools", 1, "weight"], _DELETE),
        "pools[1] (id 'acme'): missing weight",
        id="pool-without-weight",
    ),
    pytest.param(
        _set(["pools", 1, "id"], "public"),
        "pools[1] (id 'public'): duplicate id (also pools[0])",
        id="duplicate-pool",
    ),
    pytest.param(
        _set(["chip_types", "B200"], {}),
        "chip_types.B200: missing throughput",
        id="missing-throughput",
    ),
    pytest.param(
        _set(["chip_types", "B200", "throughput"], -2.5),
        "chip_types.B200: throughput must be a positive number, got -2.5",
        id="negative-throughput",
    ),
    pytest.param(
        _set(["resources", 1, "chip_type"], "B300"),
        "resources[1] (MUC/B300): unknown chip type 'B300'",
        id="unknown-chip-type",
    ),
    pytest.param(
        _set(["resources", 1, "chip_type"], "H100"),
        "resources[1] (MUC/H100): duplicate resource (also resources[0])",
        id="duplicate-resource",
    ),
    pytest.param(
        _set(["resources", 0, "capacity_gpu_hours"], -1000),
        "resources[0] (MUC/H100): capacity_gpu_hours must be a non-negative number, got -1000",
        id="negative-capacity",
    ),
    pytest.param(
        _set(["resources", 0, "chips"], 2.5),
        "resources[0] (MUC/H100): chips must be a non-negative whole number, got 2.5",
        id="fractional-chips",
    ),
    pytest.param(
        _set(["now"], "not a time"),
        "now must be a UTC time like 2027-01-08T00:00:00Z, got 'not a time'",
        id="malformed-now",
    ),
    pytest.param(
        _set(["now"], _DELETE),
        "now: missing",
        id="usage-without-now",
    ),
    pytest.param(
        _set(["half_life_hours"], 0),
        "scenario: half_life_hours must be a positive number, got 0",
        id="zero-half-life",
    ),
    pytest.param(
        _set(["horizon"], _DELETE),
        "horizon: missing",
        id="bookings-without-horizon",
    ),
    pytest.param(
        _set(["horizon", "start"], "2027-01-08T00:30:00Z"),
        "horizon: start must be on the hour",
        id="horizon-off-the-hour",
    ),
    pytest.param(
        _set(["horizon", "hours"], 0),
        "horizon: hours must be a positive whole number, got 0",
        id="empty-horizon",
    ),
    pytest.param(
        _set(["reserved", 0, "site"], "BCN"),
        "reserved[0] (BCN/H100): unknown resource",
        id="reserved-unknown-resource",
    ),
    pytest.param(
        _set(["reserved", 0, "end"], "2027-01-07T00:00:00Z"),
        "reserved[0] (MUC/H100): end must not be before start",
        id="reserved-backwards",
    ),
    pytest.param(
        _set(["bookings", 0, "chips"], 0),
        "bookings[0] (id 'b1'): chips must be a positive whole number, got 0",
        id="zero-chips",
    ),
    pytest.param(
        _set(["bookings", 1, "tenant"], "ghost"),
        "bookings[1] (id 'b2'): unknown tenant 'ghost'",
        id="booking-unknown-tenant",
    ),
    pytest.param(
        _set(["bookings", 1, "id"], "b1"),
        "bookings[1] (id 'b1'): duplicate id (also bookings[0])",
        id="duplicate-booking",
    ),
    pytest.param(
        _set(["bookings", 0, "submitted_at"], _DELETE),
        "bookings[0] (id 'b1'): missing submitted_at",
        id="missing-submitted-at",
    ),
    pytest.param(
        _set(["bookings", 0, "latest_end"], 12),
        "bookings[0] (id 'b1'): latest_end must be a UTC time like 2027-01-08T00:00:00Z, got 12",
        id="numeric-time",
    ),
    pytest.param(
        _set(["requests"], {"r1": 1}),
        "requests: must be a JSON list",
        id="requests-not-a-list",
    ),
    pytest.param(
        _set(["tenants", 0], "t1"),
        "tenants[0]: must be a JSON object, got 't1'",
        id="tenant-not-an-object",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_input_gives_one_line_naming_the_item(change: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(broken(change))
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(message), text


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(ScenarioError, match=r"^scenario: must be a JSON object, got \[1, 2\]$"):
        run_scenario([1, 2])


@pytest.mark.parametrize("text", ["{", "", "[1,]", '{"now": NaN}', '{"x": Infinity}', "{\n\n  'single': 1}"])
def test_bad_json_is_one_line(text: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, source="in.json")
    assert str(caught.value).startswith("in.json: not valid JSON: ")
    assert "\n" not in str(caught.value)


def test_files_and_stdin(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"pools": []}')
    assert load_scenario_file(str(path)) == {"pools": []}
    assert load_scenario_file("-", stdin=io.StringIO('{"a": 1}')) == {"a": 1}
    with pytest.raises(ScenarioError, match="cannot read: No such file or directory"):
        load_scenario_file(str(tmp_path / "missing.json"))
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario_file(str(tmp_path))
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ScenarioError, match="not valid UTF-8"):
        load_scenario_file(str(tmp_path / "bin.json"))
