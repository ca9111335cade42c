"""``manage.py seed_demo [--scale N]``: load the demo partnership (idempotent)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from allocation.services.demo import DEMO_ACCOUNTS, DEMO_PASSWORD, demo_seed


def positive_int(value: str) -> int:
    import argparse

    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"--scale must be at least 1, got {number}")
    return number


class Command(BaseCommand):
    help = "Load the demo sites, chips, partners, tenants and an open allocation period."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            type=positive_int,
            default=1,
            help="multiply tenants (1,000 per unit, 200 of each kind) and their requests, for load work",
        )

    def handle(self, *args: Any, scale: int, **options: Any) -> None:
        started = time.perf_counter()
        self.stdout.write(f"Seeding demo data at scale {scale} ...")
        counts = demo_seed(scale=scale)
        took = time.perf_counter() - started
        self.stdout.write(", ".join(f"{value:,} {key.replace('_', ' ')}" for key, value in counts.items()))
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {took:.1f} s."))
        if options["verbosity"] >= 1:
            self.stdout.write(f"Demo accounts (password '{DEMO_PASSWORD}'):")
            for account in DEMO_ACCOUNTS:
                self.stdout.write(f"  {account.username:<12} {account.role}")
