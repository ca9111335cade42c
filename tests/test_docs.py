"""The documentation in ``docs/`` is self-contained and says what the code does.

Invariants checked: no tracked file points at the contract outside the
repository; ``docs/examples/output.json`` is what ``simulate`` prints for
``docs/examples/scenario.json``; each lifecycle diagram in
``docs/vocabulary.md`` has exactly the transitions of its ``TRANSITIONS``
dict; every repository path (or pattern) the contract, vocabulary,
architecture and decision records name exists.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from allocation.services import bookings, requests, rounds, tenants

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
# Written in two halves so that this file does not match its own search.
OUTSIDE = ("shared" + "/spec", ".." + "/shared")
SKIPPED_DIRS = {".git", ".venv", "node_modules", "staticfiles", "__pycache__"}
REPO_PATH = re.compile(r"`((?:allocation|benchmarks|docs|examples|investai|scripts|tests)/[\w./*-]*)")


def _tracked_files() -> list[Path]:
    """The files git tracks; every file under the root when this is not a git checkout."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return [p for p in REPO_ROOT.rglob("*") if p.is_file() and not SKIPPED_DIRS & set(p.parts)]
    return [REPO_ROOT / name for name in listed.decode().split("\0") if name]


def test_no_tracked_file_points_outside_the_repository() -> None:
    offenders = []
    for path in _tracked_files():
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        text = path.read_bytes().decode("utf-8", errors="replace")
        offenders += [f"{path.relative_to(REPO_ROOT)}: {needle}" for needle in OUTSIDE if needle in text]
    assert offenders == []


def test_the_documented_example_is_what_simulate_prints() -> None:
    out = io.StringIO()
    call_command("simulate", str(DOCS / "examples" / "scenario.json"), stdout=out)
    printed = json.loads(out.getvalue())
    # The contract states fair-share factors to 5 places and every other figure exactly.
    printed["fair_share"] = {tenant: round(factor, 5) for tenant, factor in printed["fair_share"].items()}
    assert printed == json.loads((DOCS / "examples" / "output.json").read_text())


def _diagram(heading: str) -> set[tuple[str, str]]:
    """The ``a --> b`` edges of the first mermaid block after ``heading`` in docs/vocabulary.md."""
    text = (DOCS / "vocabulary.md").read_text()
    after = text[text.index(heading) :]
    block = after[after.index("```mermaid") :]
    block = block[: block.index("```", 3)]
    return {(a, b) for a, b in re.findall(r"^\s*(\w+) --> (\w+)", block, re.MULTILINE)}


@pytest.mark.parametrize(
    ("heading", "transitions"),
    [
        ("### Allocation request\n", requests.TRANSITIONS),
        ("### Allocation round\n", rounds.TRANSITIONS),
        ("### Booking\n", bookings.TRANSITIONS),
        ("### Tenant verification\n", tenants.TRANSITIONS),
    ],
)
def test_each_lifecycle_diagram_has_exactly_the_code_transitions(
    heading: str, transitions: dict[str, set[str]]
) -> None:
    in_code = {(str(a), str(b)) for a, targets in transitions.items() for b in targets}
    assert _diagram(heading) == in_code


def test_every_repository_path_the_docs_name_exists() -> None:
    pages = [DOCS / "contract.md", DOCS / "vocabulary.md", DOCS / "architecture.md", *sorted(DOCS.glob("adr/*.md"))]
    missing = []
    for page in pages:
        for named in REPO_PATH.findall(page.read_text()):
            named = named.rstrip("/.")
            if not any(REPO_ROOT.glob(named)):  # a plain path, or a pattern such as tests/test_*.py
                missing.append(f"{page.relative_to(REPO_ROOT)}: {named}")
    assert missing == []
