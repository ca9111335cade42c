"""Booking round: place flexible bookings in whole hours, in fair-share order.

Invariants (section 3 of ``fair-share.md``):
- Hour ``k`` of the grid is ``[horizon_start + k h, horizon_start + (k+1) h)``
  for ``0 <= k < horizon_hours``; ``horizon_start`` is expected on the hour.
- A reservation holds its chips in every hour its interval overlaps (its
  edges rounded outwards); a booking window is rounded inwards
  (``earliest_start`` up, ``latest_end`` down) and clipped to the horizon.
- Bookings are decided one at a time, ordered by F descending, then
  ``submitted_at`` ascending, then id ascending (a tenant missing from
  ``fair_share`` counts as F = 1.0, i.e. without usage).  With
  ``fair_share_exponent`` (x in F = 2^-x) the order is x ascending instead,
  the same order but exact where F underflows to the same float.
- Each booking goes to the earliest start hour at which some eligible resource
  has ``chips`` free in every hour of ``[t, t + hours)`` and the tenant's
  remaining quota covers ``chips * hours * theta_r``; ties go to the resource
  listed first in ``BookingInput.resources``. A tenant with ``grants`` is
  limited by them instead of ``quota``: a resource is affordable only if the
  grants covering it have the cost left together, and the cost is drawn from
  them fewest-resources-first, then in the tenant's order, each until it is
  empty; the placement's ``drawn`` lists what came from which grant (empty
  grants are skipped; the draws add up to the cost) and is empty for a
  tenant without grants.
- No hour of any resource ever holds more than its chips beyond what the
  reservations already hold (checked after every placement: an
  ``EngineError`` rather than an overbooking); no tenant is charged beyond its quota (up to a
  relative float tolerance of 1e-9); every booking is either placed or
  unplaced exactly once, with reason ``window``, ``quota`` or ``capacity``
  checked in that order. Results are listed in decision order.
- Pure and deterministic: same input, same result.

Search: free chips per hour live in two heap-ordered segment trees per
resource (range minimum and range maximum). From a candidate hour, the max
tree skips the run of hours that are too full and the min tree finds the last
too-full hour inside the candidate span, which is the next place to try; each
step costs O(log horizon) and skips whole runs, instead of O(window * hours).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from allocation.fairshare.limits import EngineError
from allocation.fairshare.types import (
    BookingAsk,
    BookingInput,
    BookingResult,
    Drawn,
    Placement,
    Reservation,
    ResourceKey,
    TenantGrant,
    Unplaced,
)

_HOUR = timedelta(hours=1)
_QUOTA_TOLERANCE = 1e-9
# Padding beyond the horizon is "blocked" for any positive chip count, which
# keeps the tree walks from running past the last real hour.
_PAD = -1


class _FreeChips:
    """Free chips per hour of one resource, with min/max segment trees."""

    __slots__ = ("hours", "maxs", "mins", "size")

    def __init__(self, chips: int, hours: int) -> None:
        size = 1
        while size < max(hours, 1):
            size *= 2
        self.hours = hours
        self.size = size
        leaves = [chips] * hours + [_PAD] * (size - hours)
        self.mins = self._build(leaves, min)
        self.maxs = self._build(leaves, max)

    @staticmethod
    def _build(leaves: list[int], combine: Callable[[int, int], int]) -> list[int]:
        size = len(leaves)
        tree = [0] * size + leaves
        for node in range(size - 1, 0, -1):
            tree[node] = combine(tree[2 * node], tree[2 * node + 1])
        return tree

    def take(self, start: int, end: int, chips: int) -> None:
        """Hold ``chips`` in hours ``[start, end)`` (clipped to the horizon)."""
        start, end = max(start, 0), min(end, self.hours)
        if start >= end:
            return
        lo, hi = start + self.size, end + self.size
        mins, maxs = self.mins, self.maxs
        updated = [x - chips for x in mins[lo:hi]]
        mins[lo:hi] = updated
        maxs[lo:hi] = updated
        # Wide levels are refreshed with slices (C loops); once the range is
        # narrow, node by node, stopping as soon as nothing changes above.
        lo, hi = lo >> 1, ((hi - 1) >> 1) + 1
        while hi - lo > 2:
            # Comprehensions, not map(min, ...): the builtin's call overhead
            # per pair would cost more than the comparison itself.
            left, right = mins[2 * lo : 2 * hi : 2], mins[2 * lo + 1 : 2 * hi : 2]
            mins[lo:hi] = [a if a < b else b for a, b in zip(left, right, strict=True)]
            left, right = maxs[2 * lo : 2 * hi : 2], maxs[2 * lo + 1 : 2 * hi : 2]
            maxs[lo:hi] = [a if a > b else b for a, b in zip(left, right, strict=True)]
            lo, hi = lo >> 1, ((hi - 1) >> 1) + 1
        _refresh_min(mins, lo, hi)
        _refresh_max(maxs, lo, hi)

    def last_below(self, end: int, chips: int) -> int:
        """Last hour < ``end`` with fewer than ``chips`` free (or -1)."""
        tree, size = self.mins, self.size
        node = end + size
        while True:
            node -= 1
            while node > 1 and node & 1:
                node >>= 1
            if tree[node] < chips:
                while node < size:
                    node = 2 * node + 1
                    if tree[node] >= chips:
                        node -= 1
                return node - size
            if node & -node == node:
                return -1

    def first_at_least(self, start: int, chips: int) -> int:
        """First hour >= ``start`` with at least ``chips`` free (or ``size``)."""
        tree, size = self.maxs, self.size
        node = start + size
        while True:
            while not node & 1:
                node >>= 1
            if tree[node] >= chips:
                while node < size:
                    node <<= 1
                    if tree[node] < chips:
                        node += 1
                return node - size
            node += 1
            if node & -node == node:
                return size

    def earliest_fit(self, first: int, last: int, chips: int, hours: int) -> int:
        """Earliest ``t`` in ``[first, last]`` with ``chips`` free in ``[t, t+hours)``, else -1."""
        start = first
        while start <= last:
            # Skip the run of hours that are too full, then jump past the last
            # too-full hour inside the candidate span, if any.
            start = self.first_at_least(start, chips)
            if start > last:
                return -1
            blocked = self.last_below(start + hours, chips)
            if blocked < start:
                return start
            start = blocked + 1
        return -1


# The narrow top of a refresh, node by node. Each tree stops on its own as soon
# as a level is unchanged: the max tree usually stops at once, because a
# less busy subtree elsewhere already holds the maximum.


def _refresh_min(tree: list[int], lo: int, hi: int) -> None:
    while lo >= 1:
        changed = False
        for node in range(lo, hi):
            left, right = tree[2 * node], tree[2 * node + 1]
            value = left if left < right else right
            if value != tree[node]:
                tree[node] = value
                changed = True
        if not changed or lo == 1:
            return
        lo, hi = lo >> 1, ((hi - 1) >> 1) + 1


def _refresh_max(tree: list[int], lo: int, hi: int) -> None:
    while lo >= 1:
        changed = False
        for node in range(lo, hi):
            left, right = tree[2 * node], tree[2 * node + 1]
            value = left if left > right else right
            if value != tree[node]:
                tree[node] = value
                changed = True
        if not changed or lo == 1:
            return
        lo, hi = lo >> 1, ((hi - 1) >> 1) + 1


def _hour_floor(moment: datetime, origin: datetime) -> int:
    return (moment - origin) // _HOUR


def _hour_ceil(moment: datetime, origin: datetime) -> int:
    return -((origin - moment) // _HOUR)


def _order_key(inp: BookingInput) -> Callable[[BookingAsk], tuple[float, datetime, str]]:
    """F descending, then submission, then id; by the exponent x of F = 2^-x when given,
    which orders tenants whose F underflows to the same float."""
    exponent = inp.fair_share_exponent
    if exponent is not None:
        return lambda ask: (exponent.get(ask.tenant, 0.0), ask.submitted_at, ask.id)
    fair_share = inp.fair_share
    return lambda ask: (-fair_share.get(ask.tenant, 1.0), ask.submitted_at, ask.id)


class _Grants:
    """One tenant's grants in the round: hours left per grant, and per resource the grants covering it,
    in the order they are drawn from (fewest resources first, then the tenant's order)."""

    __slots__ = ("covering", "ids", "left")

    def __init__(self, grants: tuple[TenantGrant, ...]) -> None:
        self.ids = [g.id for g in grants]
        self.left = [g.normalized_hours for g in grants]
        self.covering: dict[ResourceKey, list[int]] = {}
        for i in sorted(range(len(grants)), key=lambda i: (len(set(grants[i].eligible)), i)):
            for key in dict.fromkeys(grants[i].eligible):
                self.covering.setdefault(key, []).append(i)

    def available(self, key: ResourceKey) -> float:
        return sum(self.left[i] for i in self.covering.get(key, ()))

    def draw(self, key: ResourceKey, cost: float) -> tuple[Drawn, ...]:
        """Take ``cost`` from the grants covering ``key``, each until it is empty; what came from which.

        ``available`` admitted the cost up to the float tolerance, so a residue beyond what the grants
        hold is float dust: it is charged to the last grant drawn, so the draws add up to the cost."""
        left = self.left
        taken: list[tuple[int, float]] = []
        for i in self.covering.get(key, ()):
            take = min(left[i], cost)
            if take <= 0:
                continue  # an empty grant is skipped, not listed
            left[i] -= take
            cost -= take
            taken.append((i, take))
            if cost <= 0:
                break
        if cost > 0 and taken:
            last, take = taken[-1]
            taken[-1] = (last, take + cost)
            left[last] = max(left[last] - cost, 0.0)
        return tuple(Drawn(self.ids[i], take) for i, take in taken)


def _within(cost: float, limit: float) -> bool:
    return cost <= limit + _QUOTA_TOLERANCE * max(1.0, abs(limit))


def _build_free(inp: BookingInput) -> dict[ResourceKey, _FreeChips]:
    free = {res.key: _FreeChips(res.chips, inp.horizon_hours) for res in inp.resources}
    for held in inp.reserved:
        _hold_reservation(free, held, inp.horizon_start)
    return free


def _hold_reservation(free: dict[ResourceKey, _FreeChips], held: Reservation, origin: datetime) -> None:
    key = (held.site, held.chip_type)
    if key not in free:
        raise ValueError(f"reservation on unknown resource {key!r}")
    free[key].take(_hour_floor(held.start, origin), _hour_ceil(held.end, origin), held.chips)


def place_bookings(inp: BookingInput) -> BookingResult:
    """Decide every booking of ``inp``; see the module invariants."""
    free = _build_free(inp)
    position = {res.key: index for index, res in enumerate(inp.resources)}
    theta = {res.key: res.throughput for res in inp.resources}
    # Many bookings share an eligible list; resolve each distinct list once.
    resolved: dict[tuple[ResourceKey, ...], list[ResourceKey]] = {}
    remaining: dict[str, float | None] = {t.id: t.quota for t in inp.tenants}
    grants = {t.id: _Grants(t.grants) for t in inp.tenants if t.grants is not None}
    placements: list[Placement] = []
    unplaced: list[Unplaced] = []
    origin, horizon = inp.horizon_start, inp.horizon_hours

    for ask in sorted(inp.bookings, key=_order_key(inp)):
        first = max(_hour_ceil(ask.earliest_start, origin), 0)
        end = min(_hour_floor(ask.latest_end, origin), horizon)
        last = end - ask.hours  # latest admissible start hour
        if ask.hours <= 0 or last < first:
            unplaced.append(Unplaced(ask.id, "window"))
            continue
        keys = resolved.get(ask.eligible)
        if keys is None:
            # Scenario order decides ties, whatever order the ask lists them in.
            keys = sorted({k for k in ask.eligible if k in free}, key=position.__getitem__)
            resolved[ask.eligible] = keys
        quota = remaining.get(ask.tenant)
        held = grants.get(ask.tenant)
        volume = ask.chips * ask.hours
        if held is not None:
            affordable = [
                (key, volume * theta[key]) for key in keys if _within(volume * theta[key], held.available(key))
            ]
        elif quota is None:
            affordable = [(key, volume * theta[key]) for key in keys]
        else:
            limit = quota + _QUOTA_TOLERANCE * max(1.0, abs(quota))
            affordable = [(key, volume * theta[key]) for key in keys if volume * theta[key] <= limit]
        if keys and not affordable:
            unplaced.append(Unplaced(ask.id, "quota"))
            continue
        best_start, best_key, best_cost = -1, None, 0.0
        for key, cost in affordable:
            # A later resource only wins with a strictly earlier start.
            upto = last if best_key is None else best_start - 1
            start = free[key].earliest_fit(first, upto, ask.chips, ask.hours)
            if start >= 0:
                best_start, best_key, best_cost = start, key, cost
                if start == first:
                    break
        if best_key is None:
            unplaced.append(Unplaced(ask.id, "capacity"))
            continue
        free[best_key].take(best_start, best_start + ask.hours, ask.chips)
        if free[best_key].last_below(best_start + ask.hours, 0) >= best_start:
            # Cannot happen (earliest_fit found the chips free); refuse rather than overbook if it ever does.
            raise EngineError(f"booking {ask.id!r}: would hold more chips than {best_key[0]}/{best_key[1]} has")
        drawn: tuple[Drawn, ...] = ()
        if held is not None:
            drawn = held.draw(best_key, best_cost)
        elif quota is not None:
            remaining[ask.tenant] = quota - best_cost
        placements.append(Placement(ask.id, best_key[0], best_key[1], origin + best_start * _HOUR, drawn))
    return BookingResult(placements=tuple(placements), unplaced=tuple(unplaced))
