"""The scheduler core: a pure-Python engine for the fair-share contract.

Invariants:
- Standard library only; importing this package never imports Django (a test
  starts a fresh interpreter to check it).
- Importing is cheap: ``allocate`` (the allocation round, the heaviest
  module) is loaded on first use, everything else is a few small modules.
- Same input, same output: nothing here reads the clock, the environment or
  a random source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from allocation.fairshare.booking_round import place_bookings
from allocation.fairshare.factor import factor_of, factor_text, fair_share_exponents, fair_share_factors
from allocation.fairshare.limits import EngineError
from allocation.fairshare.scenario import (
    Scenario,
    ScenarioError,
    parse_scenario,
    run_scenario,
)
from allocation.fairshare.types import (
    AllocationInput,
    AllocationResult,
    BookingAsk,
    BookingInput,
    BookingResult,
    Drawn,
    Grant,
    Placement,
    Pool,
    Request,
    Reservation,
    Resource,
    ResourceKey,
    Tenant,
    TenantGrant,
    Unplaced,
    Usage,
)

if TYPE_CHECKING:
    from allocation.fairshare.allocation_round import allocate

__all__ = [
    "AllocationInput",
    "AllocationResult",
    "BookingAsk",
    "BookingInput",
    "BookingResult",
    "Drawn",
    "EngineError",
    "Grant",
    "Placement",
    "Pool",
    "Request",
    "Reservation",
    "Resource",
    "ResourceKey",
    "Scenario",
    "ScenarioError",
    "Tenant",
    "TenantGrant",
    "Unplaced",
    "Usage",
    "allocate",
    "factor_of",
    "factor_text",
    "fair_share_exponents",
    "fair_share_factors",
    "parse_scenario",
    "place_bookings",
    "run_scenario",
]


def __getattr__(name: str) -> Any:
    if name == "allocate":
        from allocation.fairshare.allocation_round import allocate

        return allocate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
