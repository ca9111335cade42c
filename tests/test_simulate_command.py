"""``python manage.py simulate``: the contract's command, run as a user would.

Invariants checked: the spec example prints the spec answer (fair share to 5
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
SPEC = Path("/work/shared/spec")
EXAMPLE = SPEC / "example-scenario.json"
ANSWER = SPEC / "example-output.json"

pytestmark = [
    pytest.mark.skipif(not MANAGE.exists(), reason="manage.py is not in the repository yet"),
    pytest.mark.skipif(not EXAMPLE.exists(), reason=f"the contract's {EXAMPLE} is not here"),
]


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
