"""``python manage.py simulate PATH|-- [--explain]``: run a JSON scenario.

Invariants:
- A thin shell over ``allocation.fairshare.scenario``: read, run, print.
- Stdout gets ``json.dumps(result, indent=2)`` and a newline; the same input
  gives the same bytes.
- A missing or unreadable file, bad JSON, a ``ScenarioError`` (input beyond
  the format or its limits) or an ``EngineError`` (a result the engine
  refuses to hand out, e.g. above capacity) prints one line
  ``simulate: error: ...`` on stderr and exits with status 2 (as argparse
  does for bad usage), never a traceback; Django's ``CommandError`` would
  exit with 1, hence the explicit ``SystemExit(2)``.
- Nothing is printed on stdout unless the whole result is valid JSON: no
  NaN, no Infinity (``dump_result`` refuses them).
- Needs no database and runs no system checks.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from allocation.fairshare.limits import EngineError
from allocation.fairshare.scenario import (
    ScenarioError,
    dump_result,
    load_scenario_file,
    run_scenario,
)


class Command(BaseCommand):
    help = "Run the fair-share engine on a JSON scenario (PATH, or - for stdin) and print JSON."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="scenario JSON file, or - to read standard input")
        parser.add_argument(
            "--explain",
            action="store_true",
            help="add each tenant's explanation to the allocation round's output",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = load_scenario_file(options["path"], stdin=sys.stdin)
            text = dump_result(run_scenario(data, explain=options["explain"]))
        except (ScenarioError, EngineError) as exc:
            self.stderr.write(f"simulate: error: {exc}", style_func=lambda text: text)
            raise SystemExit(2) from None
        self.stdout.write(text, ending="")
