"""The engine never imports Django.

Invariant checked: a fresh interpreter that imports ``allocation.fairshare``
and every one of its submodules has no ``django`` module loaded. A fresh
process is needed because the test runner itself may have Django loaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib, pkgutil, sys
import allocation.fairshare as engine
names = sorted(m.name for m in pkgutil.iter_modules(engine.__path__, "allocation.fairshare."))
for name in names:
    importlib.import_module(name)
engine.allocate  # the lazily loaded allocation round, if it is in
print(len(names))
print(sorted(m for m in sys.modules if m == "django" or m.startswith("django.")))
"""


def test_engine_imports_no_django() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    count, django_modules = done.stdout.strip().splitlines()
    assert int(count) >= 4  # types, factor, booking_round, scenario at least
    assert django_modules == "[]"
