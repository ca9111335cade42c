"""Why each tenant got what it got, in sentences an allocation committee reads.

Invariants:
- Pure formatting over figures the engine already fixed; it never changes a
  figure, so the explanation can be dropped or rewritten without touching
  the allocation.
- Every tenant gets exactly one sentence; figures are in normalized hours and
  printed with at most 6 significant digits (500.0, not 499.99999999).
- A resource is "exhausted" when its grants reach its capacity within the
  engine's tolerance; resources are named SITE/CHIP in the input's order.
- ``WaterFillExplanations`` and ``LazyExplanations`` format a sentence only
  when it is read, from figures fixed before they were built; the same key
  always gives the same sentence, equal to what an eager dict would hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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


class LazyExplanations(Mapping[str, str]):
    """Per-tenant sentences of a round, formatted on read.

    ``sentence(i)`` formats tenant ``i`` (input order) from figures the round
    fixed before this mapping was built; the round's callers read a handful
    (a web page) or none (the Celery round), so tens of thousands of
    sentences are not formatted up front.  Keys are ``ids`` in input order (a
    repeated id keeps its first place and its last tenant, as a dict would).
    The flow-based round passes a function; a subclass may override
    ``sentence`` instead.
    """

    __slots__ = ("_ids", "_index", "_sentence")

    def __init__(self, ids: Sequence[str], sentence: Callable[[int], str] | None = None) -> None:
        self._ids = ids
        self._sentence = sentence
        self._index: dict[str, int] | None = None

    def sentence(self, i: int) -> str:
        """The sentence of the tenant at input position ``i``."""
        assert self._sentence is not None, "pass a function or override sentence()"
        return self._sentence(i)

    def _lookup(self) -> dict[str, int]:
        if self._index is None:
            self._index = dict(zip(self._ids, range(len(self._ids)), strict=True))
        return self._index

    def __getitem__(self, key: str) -> str:
        return self.sentence(self._lookup()[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup())

    def __len__(self) -> int:
        return len(self._lookup())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} tenants)"


class WaterFillExplanations(LazyExplanations):
    """Per-tenant sentences of a round that was plain water-filling, formatted on read.

    With one eligibility class a tenant is either saturated or held at its
    pool's fair level, so its sentence is a function of figures the round
    already has.  Formatting a million of them (and building a million-entry
    dict) cost more than the round itself while callers read a handful (a
    web page) or none (the Celery round stores figures); the full mapping is
    still there for ``--explain`` and ``dict(...)``.

    Keys are the tenant ids in input order (a repeated id keeps its first
    place and its last tenant, as a dict built from the pairs would).
    Tenant ``i`` is in pool ``pool[i]``; its share is
    ``weight[i] * pool_scale[pool[i]]``, the product the round water-filled
    with; ``requests[i]`` counts its requests (``None``: one each).
    """

    __slots__ = ("_clauses", "_demand", "_pool", "_pool_scale", "_requests", "_tol", "_total", "_weight")

    def __init__(
        self,
        *,
        ids: Sequence[str],
        demand: Sequence[float],
        total: Sequence[float],
        requests: Sequence[int] | None,
        weight: Sequence[float],
        pool: Sequence[int],
        pool_scale: Sequence[float],
        clauses: Sequence[str],
        tol: float,
    ) -> None:
        super().__init__(ids)
        self._demand = demand
        self._total = total
        self._requests = requests
        self._weight = weight
        self._pool = pool
        self._pool_scale = pool_scale
        self._clauses = clauses
        self._tol = tol

    def sentence(self, i: int) -> str:
        """The sentence of the tenant at input position ``i``."""
        d, v = self._demand[i], self._total[i]
        if d <= 0.0:
            asked = self._requests is None or self._requests[i] > 0
            return ASKED_NOTHING if asked else NO_REQUEST
        if v >= d - self._tol:
            return saturated(d)
        j = self._pool[i]
        return held_by_pool(v, d, self._weight[i] * self._pool_scale[j], self._clauses[j])
