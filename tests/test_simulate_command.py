"""``python manage.py simulate``: the contract's command, run as a user would.

Invariants checked: docs/examples/scenario.json prints docs/examples/output.json (fair share to 5
places, the rest exactly); two runs give identical bytes; ``-`` reads stdin;
``--explain`` adds explanations; a missing file, bad JSON or a bad scenario
exits with status 2 and one stderr line, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MANAGE = REPO_ROOT / "manage.py"
# The contract's worked example (docs/contract.md), kept in the repository so
# the test runs in any checkout.
EXAMPLE = REPO_ROOT / "docs" / "examples" / "scenario.json"
ANSWER = REPO_ROOT / "docs" / "examples" / "output.json"


def simulate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, str(MANAGE), "simulate", *args],
        cwd=REPO_ROOT,
        input=None if stdin is None else stdin.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )


def rounded(output: dict[str, Any]) -> dict[str, Any]:
    output["fair_share"] = {k: round(v, 5) for k, v in output["fair_share"].items()}
    return output


def test_example_prints_the_spec_answer_deterministically() -> None:
    first = simulate(str(EXAMPLE))
    assert first.returncode == 0, first.stderr.decode()
    assert first.stderr == b""
    assert first.stdout.endswith(b"}\n")
    assert rounded(json.loads(first.stdout)) == json.loads(ANSWER.read_text())
    # Same input, same bytes; and exactly json.dumps(result, indent=2).
    second = simulate(str(EXAMPLE))
    assert second.stdout == first.stdout
    assert first.stdout.decode() == json.dumps(json.loads(first.stdout), indent=2) + "\n"


def test_stdin_dash_reads_the_scenario() -> None:
    from_file = simulate(str(EXAMPLE))
    from_stdin = simulate("-", stdin=EXAMPLE.read_text())
    assert from_stdin.returncode == 0, from_stdin.stderr.decode()
    assert from_stdin.stdout == from_file.stdout


def test_explain_adds_a_sentence_per_tenant() -> None:
    done = simulate("--explain", str(EXAMPLE))
    assert done.returncode == 0, done.stderr.decode()
    explanations = json.loads(done.stdout)["allocation"]["explanations"]
    assert set(explanations) == {"t1", "a1"}
    assert all(explanations.values())


def _bad_demand() -> str:
    data = json.loads(EXAMPLE.read_text())
    data["requests"][1]["demand"] = -5
    return json.dumps(data)


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (
            ["-"],
            "bad demand",
            "simulate: error: requests[1] (id 'r2'): demand must be a non-negative number, got -5",
        ),
        (["-"], '{"pools": [', "simulate: error: <stdin>: not valid JSON: "),
        (["/nonexistent/scenario.json"], None, "simulate: error: /nonexistent/scenario.json: "),
    ],
    ids=["scenario-error", "bad-json", "missing-file"],
)
def test_bad_input_exits_2_with_one_line(args: list[str], stdin: str | None, expected: str) -> None:
    done = simulate(*args, stdin=_bad_demand() if stdin == "bad demand" else stdin)
    err = done.stderr.decode()
    assert done.returncode == 2
    assert done.stdout == b""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(expected), err


def test_bad_json_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"tenants": [}')
    done = simulate(str(path))
    err = done.stderr.decode()
    assert done.returncode == 2
    assert err.startswith(f"simulate: error: {path}: not valid JSON: ")
    assert err.count("\n") == 1 and "Traceback" not in err


# -- issue 11, item 8: hostile input ------------------------------------------------------------


def _hostile(change: str) -> str:
    data = json.loads(EXAMPLE.read_text())
    if change == "horizon":
        data["horizon"]["hours"] = 1e12
    elif change == "usage-ahead":
        data["tenants"][0]["usage"][0]["at"] = "2046-08-24T00:00:00Z"  # 1,024 half-lives after now
    elif change == "demands":
        data["requests"][0]["demand"] = data["requests"][1]["demand"] = 1e308
    elif change == "usage-1e308":
        data["tenants"][0]["usage"] = [{"at": "2027-01-01T00:00:00Z", "normalized_hours": 1e308}] * 2
    elif change == "requestz":
        data["requestz"] = data.pop("requests")
    elif change == "wieght":
        data["tenants"][0]["wieght"] = 2
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("horizon", "simulate: error: horizon: hours must be at most 17568 (two years), got 1000000000000.0"),
        ("usage-ahead", "simulate: error: tenants[0] (id 't1'): usage[0]: at is 1024 half-lives after now"),
        ("demands", "simulate: error: requests[0] (id 'r1'): demand must be at most 1e+15, got 1e+308"),
        ("usage-1e308", "simulate: error: tenants[0] (id 't1'): usage[0]: normalized_hours must be at most 1e+15"),
        ("requestz", "simulate: error: scenario: unknown key 'requestz' (did you mean 'requests'?)"),
        ("wieght", "simulate: error: tenants[0] (id 't1'): unknown key 'wieght' (did you mean 'weight'?)"),
    ],
)
def test_hostile_input_exits_2_with_one_line_and_prints_nothing(change: str, expected: str) -> None:
    done = simulate("-", stdin=_hostile(change))
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert done.stdout == b""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(expected), err


def test_extreme_weights_never_grant_above_capacity() -> None:
    # Issue 11, item 7: one resource of 10 GPU-hours, pools weighted 1 and 1e-17, demands 4 and 20.
    scenario = {
        "chip_types": {"H100": {"throughput": 1.0}},
        "resources": [{"site": "MUC", "chip_type": "H100", "capacity_gpu_hours": 10}],
        "pools": [{"id": "a", "weight": 1}, {"id": "b", "weight": 1e-17}],
        "tenants": [{"id": "ta", "pool": "a"}, {"id": "tb", "pool": "b"}],
        "requests": [{"id": "ra", "tenant": "ta", "demand": 4}, {"id": "rb", "tenant": "tb", "demand": 20}],
    }
    done = simulate("-", stdin=json.dumps(scenario))
    assert done.returncode == 0, done.stderr.decode()
    allocation = json.loads(done.stdout)["allocation"]
    assert allocation["requests"] == {"ra": 4.0, "rb": 6.0}
    assert sum(g["gpu_hours"] for g in allocation["grants"]) == 10.0


# -- the contract's tenant grants ---------------------------------------------------------------


def _with_grants() -> dict[str, Any]:
    """The contract's example with t1 holding grants; its quota, now 0, would refuse b1 if it still counted."""
    data = json.loads(EXAMPLE.read_text())
    data["tenants"][0]["quota"] = 0
    data["tenants"][0]["grants"] = [
        {"id": "muc", "eligible": [{"site": "MUC"}], "normalized_hours": 100},
        {"id": "muc-h100", "eligible": [{"site": "MUC", "chip_type": "H100"}], "normalized_hours": 12.5},
    ]
    return data


def test_grants_replace_the_quota_and_placements_of_their_holder_report_drawn() -> None:
    done = simulate("-", stdin=json.dumps(_with_grants()))
    assert done.returncode == 0, done.stderr.decode()
    booking = json.loads(done.stdout)["booking"]
    # b1 costs 2 chips x 10 h = 20: first from the grant covering only MUC/H100 (though listed second),
    # the rest from the one covering both MUC resources.
    # a1 holds no grants: its placement (none here) or refusal carries no "drawn".
    assert booking["placements"] == [
        {
            "booking": "b1",
            "site": "MUC",
            "chip_type": "H100",
            "start": "2027-01-08T00:00:00Z",
            "drawn": [{"grant": "muc-h100", "normalized_hours": 12.5}, {"grant": "muc", "normalized_hours": 7.5}],
        }
    ]


def test_a_misspelt_grant_key_exits_2_with_one_line_naming_it() -> None:
    data = _with_grants()
    data["tenants"][0]["grants"][1]["normalised_hours"] = data["tenants"][0]["grants"][1].pop("normalized_hours")
    done = simulate("-", stdin=json.dumps(data))
    err = done.stderr.decode()
    assert (done.returncode, done.stdout) == (2, b""), err
    assert err == (
        "simulate: error: tenants[0] (id 't1'): grants[1] (id 'muc-h100'): "
        "unknown key 'normalised_hours' (did you mean 'normalized_hours'?)\n"
    )
