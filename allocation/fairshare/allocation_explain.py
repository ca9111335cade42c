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
    exhausted: list[str]  # tenant-eligible resources that are full
    rivals: list[str]  # other pools holding grants on those resources
    pool_level: float  # its pool's total per unit of the pool's share


def explain(t: TenantFacts, pool: PoolFacts, tol: float) -> str:
    if t.demand <= 0.0:
        if not t.has_requests:
            return "made no request this round, so it got 0.0 normalized hours"
        return "got 0.0 normalized hours: none of its requests names a resource of this round"
    if t.total >= t.demand - tol:
        return f"saturated: got its full demand of {fmt(t.demand)} normalized hours"
    level = t.total / t.share
    got = f"{fmt(t.total)} of its {fmt(t.demand)} normalized hours"
    if t.reason == "parent":
        why = (
            f"held at {got} ({fmt(level)} per unit of share) because its pool "
            f"'{pool.id}' was capped at {fmt(pool.total)} normalized hours"
        )
        if pool.exhausted:
            why += f" by the exhausted resources {_names(pool.exhausted)}"
        return why + ", which its tenants share by weight"
    res = _names(t.exhausted) if t.exhausted else "its eligible resources"
    rivals = _names([f"'{p}'" for p in t.rivals])
    if t.rivals and level < t.pool_level * (1.0 - 1e-9):
        little = "got nothing" if t.total <= tol else f"got little ({got})"
        return (
            f"{little}: its only eligible resources {res} are needed by other "
            f"pools ({rivals}) to reach their step-1 totals, and pools' "
            "entitlements come before tenants'"
        )
    why = (
        f"held at fair level {fmt(level)} normalized hours per unit of share "
        f"({got}) because resources {res} are exhausted"
    )
    if t.rivals:
        why += f"; pools {rivals} also draw on them"
    return why
