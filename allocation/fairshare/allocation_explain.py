"""Why each tenant got what it got, in sentences an allocation committee reads.

Invariants:
- Pure formatting over figures the engine already fixed; it never changes a
  figure, so the explanation can be dropped or rewritten without touching
  the allocation.
- Every tenant gets exactly one sentence; figures are in normalized hours and
  printed with at most 6 significant digits (500.0, not 499.99999999).
- A resource is "exhausted" when its grants reach its capacity within the
  engine's tolerance; resources are named SITE/CHIP in the input's order.
"""

from __future__ import annotations

from dataclasses import dataclass


def fmt(v: float) -> str:
    # 6 significant digits, always shown as a float (500.0, 12.5, 1234570.0).
    return repr(float(f"{v:.6g}"))


def _names(items: list[str]) -> str:
    return ", ".join(items)


@dataclass(frozen=True, slots=True)
class PoolFacts:
    id: str
    demand: float
    total: float
    reason: str  # "demand" | "parent" | "blocked" | "" (nothing asked)
    exhausted: list[str]  # pool-eligible resources that are full


@dataclass(frozen=True, slots=True)
class TenantFacts:
    id: str
    demand: float
    total: float
    share: float
    reason: str  # "demand" | "parent" | "blocked" | ""
    has_requests: bool
    exhausted: list[str]  # full resources its unsatisfied requests could use
    rivals: list[str]  # other pools holding grants on those resources
    pool_level: float  # its pool's total per unit of the pool's share


NO_REQUEST = "made no request this round, so it got 0.0 normalized hours"
ASKED_NOTHING = "asked for nothing it can run this round, so it got 0.0 normalized hours"


def saturated(demand: float) -> str:
    return f"saturated: got its full demand of {fmt(demand)} normalized hours"


def pool_cap_clause(pool_id: str, pool_total: float, exhausted: list[str]) -> str:
    why = f"because its pool '{pool_id}' was capped at {fmt(pool_total)} normalized hours"
    if exhausted:
        why += f" by the exhausted resources {_names(exhausted)}"
    return why + ", which its tenants share by weight"


def held_by_pool(total: float, demand: float, share: float, clause: str) -> str:
    got = f"{fmt(total)} of its {fmt(demand)} normalized hours"
    return f"held at {got} ({fmt(total / share)} per unit of share) {clause}"


def explain(t: TenantFacts, pool: PoolFacts, tol: float) -> str:
    if t.demand <= 0.0:
        return ASKED_NOTHING if t.has_requests else NO_REQUEST
    if t.total >= t.demand - tol:
        return saturated(t.demand)
    if t.reason == "parent":
        clause = pool_cap_clause(pool.id, pool.total, pool.exhausted)
        return held_by_pool(t.total, t.demand, t.share, clause)
    level = t.total / t.share
    got = f"{fmt(t.total)} of its {fmt(t.demand)} normalized hours"
    res = _names(t.exhausted) if t.exhausted else "its eligible resources"
    rivals = _names([f"'{p}'" for p in t.rivals])
    if t.rivals and level < t.pool_level * (1.0 - 1e-9):
        little = "got nothing" if t.total <= tol else f"got little ({got})"
        return (
            f"{little}: the only resources its unmet demand can run on, {res}, are "
            f"needed by other pools ({rivals}) to reach their step-1 totals, and "
            "pools' entitlements come before tenants'"
        )
    why = (
        f"held at fair level {fmt(level)} normalized hours per unit of share "
        f"({got}) because resources {res} are exhausted"
    )
    if t.rivals:
        why += f"; pools {rivals} also draw on them"
    return why
