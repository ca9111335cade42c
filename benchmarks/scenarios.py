"""Seeded generators of allocation rounds at gigafactory scale.

Invariants:
- Same arguments, same ``AllocationInput``: only ``random.Random(seed)`` is
  used, and nothing is read from the environment.
- Resources are the booking benchmark's layout (11 sites x 2-3 chip types,
  28 resources) so both rounds are measured on the same gigafactories.
- Demand is about 1.5x capacity in normalized hours, heavy-tailed per
  request, so the round is contended and every step has real work.
- ``multi_fraction`` of the requests accept several resources: any site with
  the tenant's chip type, any chip type at the tenant's site, or one of a few
  fixed explicit pairs; the rest name the tenant's home resource.  A tenant
  keeps one eligibility profile for all its requests, except a
  ``mixed_tenant_fraction`` of tenants whose requests each draw afresh (the
  expensive case: their totals can be routed several ways).
- Runs as ``python benchmarks/scenarios.py`` from anywhere (repo root is put
  on ``sys.path``); imports nothing beyond the standard library and
  ``allocation.fairshare``.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocation.fairshare.types import (
    AllocationInput,
    Pool,
    Request,
    Resource,
    ResourceKey,
    Tenant,
)
from benchmarks.booking_scenarios import gigafactory_resources

_SIGMA = 1.2  # lognormal spread of request sizes: a few huge asks, many small ones


def _pools(rng: random.Random, pools: int) -> tuple[Pool, ...]:
    # The public pool (startups, SMEs, research) carries the largest weight.
    out = [Pool("public", 4.0)]
    out += [Pool(f"partner{i:02d}", float(rng.randint(1, 3))) for i in range(1, pools)]
    return tuple(out[:pools])


def _lognormal_demands(rng: random.Random, n: int, mean: float) -> list[float]:
    mu = math.log(max(mean, 1e-9)) - _SIGMA * _SIGMA / 2
    return [round(rng.lognormvariate(mu, _SIGMA), 1) for _ in range(n)]


def gigafactory_allocation_input(
    *,
    seed: int,
    tenants: int,
    requests: int,
    pools: int = 12,
    multi_fraction: float = 0.5,
    mixed_tenant_fraction: float = 0.1,
) -> AllocationInput:
    rng = random.Random(seed)
    resources = gigafactory_resources(rng)
    keys: list[ResourceKey] = [r.key for r in resources]
    by_site: dict[str, list[ResourceKey]] = {}
    by_chip: dict[str, list[ResourceKey]] = {}
    for site, chip in keys:
        by_site.setdefault(site, []).append((site, chip))
        by_chip.setdefault(chip, []).append((site, chip))
    pairs = [tuple(rng.sample(keys, rng.choice((2, 3)))) for _ in range(8)]
    pool_list = _pools(rng, pools)
    pool_ids = [p.id for p in pool_list]
    pool_bias = [3.0 if p.id == "public" else 1.0 for p in pool_list]
    tenant_pool = rng.choices(pool_ids, weights=pool_bias, k=tenants)
    tenant_list = tuple(Tenant(f"t{i}", tenant_pool[i], 2.0 if rng.random() < 0.1 else 1.0) for i in range(tenants))
    home = [rng.choice(keys) for _ in range(tenants)]
    # Most teams run the same kind of job everywhere: one eligibility profile
    # per tenant; a mixed tenant draws each request's eligibility afresh.
    mixed = [rng.random() < mixed_tenant_fraction for _ in range(tenants)]
    profile = [rng.random() for _ in range(tenants)]
    owner = list(range(min(tenants, requests)))
    owner += [rng.randrange(tenants) for _ in range(requests - len(owner))]
    capacity = sum(r.capacity_gpu_hours * r.throughput for r in resources)
    demands = _lognormal_demands(rng, requests, 1.5 * capacity / max(requests, 1))
    reqs = []
    for q in range(requests):
        i = owner[q]
        site, chip = home[i]
        eligible: tuple[ResourceKey, ...] = (home[i],)
        draw = rng.random() if mixed[i] else profile[i]
        if draw < multi_fraction:
            kind = rng.random() if mixed[i] else profile[i] / multi_fraction
            if kind < 0.4:
                eligible = tuple(by_chip[chip])
            elif kind < 0.8:
                eligible = tuple(by_site[site])
            else:
                eligible = rng.choice(pairs)
        reqs.append(Request(f"q{q}", f"t{i}", demands[q], eligible))
    return AllocationInput(resources, pool_list, tenant_list, tuple(reqs))


def single_resource_input(*, seed: int, tenants: int, pools: int = 12) -> AllocationInput:
    """One resource, one request per tenant, capacity 60% of the demand."""
    rng = random.Random(seed)
    pool_list = _pools(rng, pools)
    pool_ids = [p.id for p in pool_list]
    tenant_pool = rng.choices(pool_ids, k=tenants)
    tenant_list = tuple(Tenant(f"t{i}", tenant_pool[i], 2.0 if rng.random() < 0.1 else 1.0) for i in range(tenants))
    demands = _lognormal_demands(rng, tenants, 1000.0)
    key = ("MUC", "H100")
    reqs = tuple(Request(f"q{i}", f"t{i}", demands[i], (key,)) for i in range(tenants))
    resource = Resource("MUC", "H100", 1.0, round(0.6 * sum(demands), 1), 4096)
    return AllocationInput((resource,), pool_list, tenant_list, reqs)


if __name__ == "__main__":
    inp = gigafactory_allocation_input(seed=1, tenants=50_000, requests=100_000)
    classes = {frozenset(q.eligible) for q in inp.requests}
    print(
        f"{len(inp.resources)} resources, {len(inp.tenants)} tenants, "
        f"{len(inp.requests)} requests, {len(classes)} eligibility classes"
    )
