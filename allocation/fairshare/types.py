"""The scheduler's vocabulary: frozen dataclasses in, decisions out.

Invariants:
- Nothing here imports Django; every value is a plain Python value so that
  the Celery tasks can build these from querysets and the `simulate` command
  from JSON, and both get the same answer from the same input.
- Ids are strings (database primary keys are passed as ``str(pk)``).
- A resource is identified by its ``(site, chip_type)`` key; eligibility is
  already resolved to explicit keys (wildcards are the parser's business).
- Times are timezone-aware UTC ``datetime`` values.
- Figures: capacity and grants in GPU-hours of the resource's chip type;
  demands, quotas, usage and fairness in normalized hours
  (GPU-hours x throughput).
- ``Placement.drawn`` lists the grants a placement's cost came from, in the
  order they were drawn, and is empty when the tenant holds no grants.
- ``Grant`` is an immutable ``NamedTuple`` rather than a
  frozen dataclass because a round hands out one per request (a million on
  the single-resource benchmark) and a tuple is built several times faster;
  its fields are read by name, as a dataclass's would be.
- ``AllocationResult.explanations`` is a read-only ``Mapping``: both paths
  format a tenant's sentence only when it is read (see
  ``allocation_explain.WaterFillExplanations`` and ``LazyExplanations``).  Read it with ``[]``,
  ``.get``, iteration or ``dict(...)``; ``json`` needs ``dict(...)`` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

ResourceKey = tuple[str, str]  # (site, chip_type)


@dataclass(frozen=True, slots=True)
class Resource:
    site: str
    chip_type: str
    throughput: float
    capacity_gpu_hours: float = 0.0
    chips: int = 0

    @property
    def key(self) -> ResourceKey:
        return (self.site, self.chip_type)


@dataclass(frozen=True, slots=True)
class Pool:
    id: str
    weight: float


@dataclass(frozen=True, slots=True)
class TenantGrant:
    """Normalized hours a tenant may still book, only on the resources listed (booking round)."""

    id: str
    eligible: tuple[ResourceKey, ...]
    normalized_hours: float


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    pool: str
    weight: float = 1.0
    # Remaining quota in normalized hours for the booking round; None = no limit.
    quota: float | None = None
    # Grants bound to resources; when given (even empty), ``quota`` is ignored and a booking is placed
    # on a resource only if the grants covering it have its cost left (fair-share.md, section 3).
    grants: tuple[TenantGrant, ...] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    tenant: str
    at: datetime
    normalized_hours: float


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    tenant: str
    demand: float  # normalized hours
    eligible: tuple[ResourceKey, ...]


@dataclass(frozen=True, slots=True)
class AllocationInput:
    resources: tuple[Resource, ...]
    pools: tuple[Pool, ...]
    tenants: tuple[Tenant, ...]
    requests: tuple[Request, ...]


class Grant(NamedTuple):
    request: str
    site: str
    chip_type: str
    gpu_hours: float


@dataclass(frozen=True, slots=True)
class AllocationResult:
    pools: dict[str, float]  # normalized hours per pool
    tenants: dict[str, float]  # normalized hours per tenant
    requests: dict[str, float]  # normalized hours per request
    grants: tuple[Grant, ...]
    # Per tenant, why it got what it got, in words a committee member reads.
    explanations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reservation:
    """Chips already held on a resource (a confirmed booking or maintenance)."""

    site: str
    chip_type: str
    chips: int
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class BookingAsk:
    id: str
    tenant: str
    chips: int
    hours: int
    earliest_start: datetime
    latest_end: datetime
    submitted_at: datetime
    eligible: tuple[ResourceKey, ...]


@dataclass(frozen=True, slots=True)
class BookingInput:
    resources: tuple[Resource, ...]
    tenants: tuple[Tenant, ...]
    horizon_start: datetime
    horizon_hours: int
    reserved: tuple[Reservation, ...]
    bookings: tuple[BookingAsk, ...]
    fair_share: dict[str, float]  # tenant id -> F
    # Tenant id -> x with F = 2^-x (factor.fair_share_exponents). When given it
    # decides the order instead of F: it stays exact where F underflows.
    fair_share_exponent: dict[str, float] | None = None


class Drawn(NamedTuple):
    """Normalized hours a placement drew from one of its tenant's grants."""

    grant: str
    normalized_hours: float


@dataclass(frozen=True, slots=True)
class Placement:
    booking: str
    site: str
    chip_type: str
    start: datetime
    # What the cost was drawn from, in draw order, when the tenant holds grants; empty otherwise.
    drawn: tuple[Drawn, ...] = ()


@dataclass(frozen=True, slots=True)
class Unplaced:
    booking: str
    reason: str  # "window" | "quota" | "capacity"


@dataclass(frozen=True, slots=True)
class BookingResult:
    placements: tuple[Placement, ...]
    unplaced: tuple[Unplaced, ...]
