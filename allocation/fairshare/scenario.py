"""The JSON scenario of ``simulate``: parse, validate, run, render.

Invariants:
- ``parse_scenario`` either returns a fully validated ``Scenario`` or raises
  ``ScenarioError`` whose message is one line naming the offending item, e.g.
  ``requests[1] (id 'r2'): demand must be a non-negative number, got -5``.
- A key the format does not have, at any level, is refused (with the
  closest known key as a hint); so are figures beyond the stated limits of
  ``limits.py`` (figures above 1e15, weights outside 1e-30..1e30, a horizon
  over two years or ending after 9999, usage more than 64 half-lives after
  ``now``), so that no sum overflows and no output is NaN or infinite.
- A tenant's ``grants`` (each ``{"id", "eligible", "normalized_hours"}``,
  ids unique per tenant, ``eligible`` required and in a request's form)
  replace its ``quota`` in the booking round; each placement of such a
  tenant is rendered with ``drawn``, the grants its cost came from, and
  only those placements (an input without grants has no ``drawn`` key).
- Eligibility wildcards are resolved here, never in the engine: an entry
  without ``site`` means every site with that chip type, without
  ``chip_type`` every chip type at that site, a missing list every resource;
  resolved keys keep the scenario's resource order.
- ``run_scenario`` runs only the rounds the scenario has (allocation when
  ``requests`` is present, fair share when ``tenants`` is, booking when
  ``bookings`` is) and renders keys only for those rounds, in the order
  ``allocation``, ``fair_share``, ``booking``; every pool, tenant and request
  of the input appears, in input order.
- Rendering is deterministic: the same input gives the same dict (and so the
  same ``json.dumps`` bytes). Allocation figures are rounded to 6 decimals to
  keep float noise out of the output; fair-share factors keep full precision
  (never 0.0: ``factor.factor_of``) and the booking round orders by their
  exponent, exact where F underflows;
  times are written as ``2027-01-08T00:00:00Z``.
- No Django here: the ``simulate`` command and the tests share it.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from allocation.fairshare.factor import factor_of, fair_share_exponents
from allocation.fairshare.limits import (
    FIGURE_MAX,
    HORIZON_HOURS_MAX,
    THROUGHPUT_MAX,
    THROUGHPUT_MIN,
    USAGE_AHEAD_MAX_HALF_LIVES,
    WEIGHT_MAX,
    WEIGHT_MIN,
    EngineError,
)
from allocation.fairshare.types import (
    AllocationInput,
    AllocationResult,
    BookingAsk,
    BookingInput,
    BookingResult,
    Placement,
    Pool,
    Request,
    Reservation,
    Resource,
    ResourceKey,
    Tenant,
    TenantGrant,
    Usage,
)

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_HALF_LIFE_HOURS = 168.0
_FIGURE_DECIMALS = 6

# Every key the format has, per level; anything else is refused (a misspelt
# ``requestz`` would otherwise skip a round, a misspelt ``wieght`` fall back to 1).
_KEYS: dict[str, frozenset[str]] = {
    "scenario": frozenset(
        {
            "chip_types",
            "resources",
            "pools",
            "tenants",
            "requests",
            "now",
            "half_life_hours",
            "horizon",
            "reserved",
            "bookings",
        }
    ),
    "chip_type": frozenset({"throughput"}),
    "resource": frozenset({"site", "chip_type", "capacity_gpu_hours", "chips"}),
    "pool": frozenset({"id", "weight"}),
    "tenant": frozenset({"id", "pool", "weight", "quota", "grants", "usage"}),
    "grant": frozenset({"id", "eligible", "normalized_hours"}),
    "usage": frozenset({"at", "normalized_hours"}),
    "request": frozenset({"id", "tenant", "demand", "eligible"}),
    "horizon": frozenset({"start", "hours"}),
    "reserved": frozenset({"site", "chip_type", "chips", "start", "end"}),
    "booking": frozenset(
        {"id", "tenant", "chips", "hours", "earliest_start", "latest_end", "submitted_at", "eligible"}
    ),
}


class ScenarioError(Exception):
    """A scenario that breaks the format; ``str(error)`` is one line."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario; ``requests``/``bookings`` are None when absent."""

    resources: tuple[Resource, ...]
    pools: tuple[Pool, ...]
    tenants: tuple[Tenant, ...] | None
    usage: tuple[Usage, ...]
    now: datetime | None
    half_life_hours: float
    requests: tuple[Request, ...] | None
    horizon_start: datetime | None
    horizon_hours: int
    reserved: tuple[Reservation, ...]
    bookings: tuple[BookingAsk, ...] | None


# -- reading -----------------------------------------------------------------------------------


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number JSON allows")


def load_scenario_text(text: str, *, source: str = "scenario") -> object:
    """Decode JSON text; NaN and Infinity are refused like any other bad JSON."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except (ValueError, RecursionError) as exc:
        raise ScenarioError(f"{source}: not valid JSON: {_one_line(str(exc))}") from exc


def load_scenario_file(path: str, *, stdin: TextIO | None = None) -> object:
    """Read and decode ``path`` (``-`` is standard input)."""
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin
        try:
            return load_scenario_text(stream.read(), source="<stdin>")
        except UnicodeDecodeError as exc:
            raise ScenarioError("<stdin>: not valid UTF-8 text") from exc
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not valid UTF-8 text") from exc
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return load_scenario_text(text, source=path)


def dump_result(result: Mapping[str, Any]) -> str:
    """The exact text ``simulate`` prints: indented JSON and a newline; never NaN or Infinity."""
    try:
        return json.dumps(result, indent=2, allow_nan=False) + "\n"
    except ValueError as exc:  # a bug, not the input's fault: refuse rather than print invalid JSON
        raise EngineError(f"result: a figure is not a finite number ({_one_line(str(exc))})") from exc


# -- field validation --------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show(value: object) -> str:
    """A short, one-line rendering of an offending value."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = repr(value)
    text = _one_line(text)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(label: str, message: str) -> NoReturn:
    raise ScenarioError(_one_line(f"{label}: {message}"))


def _known_keys(item: Mapping[str, Any], kind: str, label: str) -> None:
    unknown = sorted(set(item) - _KEYS[kind], key=str)
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), sorted(_KEYS[kind]), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "the format has " + ", ".join(sorted(_KEYS[kind]))
        _fail(label, f"unknown key {key!r} ({hint})")


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond any float
        return False


def _object(value: object, label: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(label, f"must be a JSON object, got {_show(value)}")
    return value


def _list(value: object, label: str) -> list[Any]:
    if not isinstance(value, list):
        _fail(label, f"must be a JSON list, got {_show(value)}")
    return value


def _text(item: Mapping[str, Any], key: str, label: str) -> str:
    if key not in item or item[key] is None:
        _fail(label, f"missing {key}")
    value = item[key]
    if not isinstance(value, str) or not value:
        _fail(label, f"{key} must be a non-empty string, got {_show(value)}")
    return value


def _number(
    item: Mapping[str, Any],
    key: str,
    label: str,
    *,
    positive: bool = False,
    default: float | None = None,
    bounds: tuple[float, float] = (0.0, FIGURE_MAX),
) -> float:
    if key not in item or item[key] is None:
        if default is None:
            _fail(label, f"missing {key}")
        return default
    value = item[key]
    if not _is_number(value) or value < 0 or (positive and value == 0):
        kind = "a positive" if positive else "a non-negative"
        _fail(label, f"{key} must be {kind} number, got {_show(value)}")
    low, high = bounds
    if not low <= value <= high:
        # Beyond these the engine's sums overflow or its levels lose the small figures.
        span = f"at most {high:g}" if low == 0.0 else f"between {low:g} and {high:g}"
        _fail(label, f"{key} must be {span}, got {_show(value)}")
    return float(value)


def _whole(
    item: Mapping[str, Any],
    key: str,
    label: str,
    *,
    positive: bool = False,
    default: int | None = None,
) -> int:
    if key not in item or item[key] is None:
        if default is None:
            _fail(label, f"missing {key}")
        return default
    value = item[key]
    ok = _is_number(value) and float(value).is_integer() and value >= (1 if positive else 0)
    if not ok:
        kind = "a positive" if positive else "a non-negative"
        _fail(label, f"{key} must be {kind} whole number, got {_show(value)}")
    if value > FIGURE_MAX:
        _fail(label, f"{key} must be at most {FIGURE_MAX:g}, got {_show(value)}")
    return int(value)


def _time(item: Mapping[str, Any], key: str, label: str) -> datetime:
    if key not in item or item[key] is None:
        _fail(label, f"missing {key}")
    return _parse_time(item[key], f"{label}: {key}")


def _parse_time(value: object, what: str) -> datetime:
    problem = f"{what} must be a UTC time like 2027-01-08T00:00:00Z, got {_show(value)}"
    if not isinstance(value, str):
        raise ScenarioError(_one_line(problem))
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None or moment.utcoffset() is None:
            # A naive time is ambiguous across sites' timezones; refuse it.
            raise ValueError(value)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset past year 1 or 9999
        raise ScenarioError(_one_line(problem)) from None


def _labelled(section: str, index: int, item: Mapping[str, Any]) -> tuple[str, str]:
    """The item's id and the label errors use: ``section[i] (id 'x')``."""
    label = f"{section}[{index}]"
    ident = _text(item, "id", label)
    return ident, f"{label} (id {ident!r})"


def _unique(seen: dict[str, str], ident: str, label: str, where: str) -> None:
    if ident in seen:
        _fail(label, f"duplicate id (also {seen[ident]})")
    seen[ident] = where


# -- sections ----------------------------------------------------------------------------------


def _chip_types(data: Mapping[str, Any]) -> dict[str, float]:
    raw = data.get("chip_types", {})
    if not isinstance(raw, dict):
        _fail("chip_types", f"must be a JSON object of chip type to its throughput, got {_show(raw)}")
    throughput: dict[str, float] = {}
    for name, spec in raw.items():
        label = f"chip_types.{name}"
        if not name:
            _fail("chip_types", "a chip type name must be a non-empty string")
        spec = _object(spec, label)
        _known_keys(spec, "chip_type", label)
        throughput[name] = _number(spec, "throughput", label, positive=True, bounds=(THROUGHPUT_MIN, THROUGHPUT_MAX))
    return throughput


def _resources(data: Mapping[str, Any], throughput: Mapping[str, float]) -> tuple[Resource, ...]:
    # Capacity only matters to the allocation round and chips to the booking
    # round, so each is required only when that round runs.
    need_capacity = "requests" in data
    need_chips = "bookings" in data
    resources: list[Resource] = []
    seen: dict[ResourceKey, str] = {}
    for index, raw in enumerate(_list(data.get("resources", []), "resources")):
        label = f"resources[{index}]"
        item = _object(raw, label)
        site = _text(item, "site", label)
        chip_type = _text(item, "chip_type", label)
        label = f"{label} ({site}/{chip_type})"
        _known_keys(item, "resource", label)
        if chip_type not in throughput:
            _fail(label, f"unknown chip type {chip_type!r} (not in chip_types)")
        if (site, chip_type) in seen:
            _fail(label, f"duplicate resource (also {seen[(site, chip_type)]})")
        seen[(site, chip_type)] = f"resources[{index}]"
        capacity = _number(item, "capacity_gpu_hours", label, default=None if need_capacity else 0.0)
        chips = _whole(item, "chips", label, default=None if need_chips else 0)
        resources.append(Resource(site, chip_type, throughput[chip_type], capacity, chips))
    return tuple(resources)


def _pools(data: Mapping[str, Any]) -> tuple[Pool, ...]:
    pools: list[Pool] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(_list(data.get("pools", []), "pools")):
        item = _object(raw, f"pools[{index}]")
        ident, label = _labelled("pools", index, item)
        _unique(seen, ident, label, f"pools[{index}]")
        _known_keys(item, "pool", label)
        pools.append(Pool(ident, _number(item, "weight", label, positive=True, bounds=(WEIGHT_MIN, WEIGHT_MAX))))
    return tuple(pools)


def _tenants(
    data: Mapping[str, Any],
    pools: Sequence[Pool],
    resources: Sequence[Resource],
    now: datetime | None,
    half_life: float,
) -> tuple[tuple[Tenant, ...], tuple[Usage, ...]]:
    pool_ids = {pool.id for pool in pools}
    tenants: list[Tenant] = []
    usage: list[Usage] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(_list(data.get("tenants", []), "tenants")):
        item = _object(raw, f"tenants[{index}]")
        ident, label = _labelled("tenants", index, item)
        _unique(seen, ident, label, f"tenants[{index}]")
        _known_keys(item, "tenant", label)
        pool = _text(item, "pool", label)
        if pool not in pool_ids:
            _fail(label, f"unknown pool {pool!r}")
        weight = _number(item, "weight", label, positive=True, default=1.0, bounds=(WEIGHT_MIN, WEIGHT_MAX))
        quota = None if item.get("quota") is None else _number(item, "quota", label)
        grants = None if item.get("grants") is None else _grants(item["grants"], label, resources)
        tenants.append(Tenant(ident, pool, weight, quota, grants))
        for k, record in enumerate(_list(item.get("usage", []), f"{label}: usage")):
            usage.append(_usage(ident, record, f"{label}: usage[{k}]", now, half_life))
    return tuple(tenants), tuple(usage)


def _grants(raw: object, tenant_label: str, resources: Sequence[Resource]) -> tuple[TenantGrant, ...]:
    """A tenant's grants (then its quota is ignored); an empty list means it may book nothing."""
    grants: list[TenantGrant] = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(_list(raw, f"{tenant_label}: grants")):
        where = f"{tenant_label}: grants[{index}]"
        item = _object(entry, where)
        ident, label = _labelled(f"{tenant_label}: grants", index, item)
        _unique(seen, ident, label, f"grants[{index}]")
        _known_keys(item, "grant", label)
        if item.get("eligible") is None:
            # Unlike a request's, a grant's resources are never implied: a missing list is a mistake.
            _fail(label, "missing eligible (the resources the grant may be booked on)")
        eligible = _eligible(item, label, resources)
        grants.append(TenantGrant(ident, eligible, _number(item, "normalized_hours", label)))
    return tuple(grants)


def _usage(tenant: str, raw: object, where: str, now: datetime | None, half_life: float) -> Usage:
    record = _object(raw, where)
    _known_keys(record, "usage", where)
    at = _time(record, "at", where)
    hours = _number(record, "normalized_hours", where)
    if now is not None:
        # Weighs 2^(ahead) times its hours: 1,024 half-lives ahead overflow any float.
        ahead = (at - now).total_seconds() / 3600.0 / half_life
        if ahead > USAGE_AHEAD_MAX_HALF_LIVES:
            limit = USAGE_AHEAD_MAX_HALF_LIVES
            _fail(where, f"at is {ahead:.6g} half-lives after now (at most {limit}), got {_show(record['at'])}")
    return Usage(tenant, at, hours)


def _eligible(item: Mapping[str, Any], label: str, resources: Sequence[Resource]) -> tuple[ResourceKey, ...]:
    raw = item.get("eligible")
    if raw is None:
        return tuple(resource.key for resource in resources)
    entries = _list(raw, f"{label}: eligible")
    if not entries:
        _fail(label, "eligible must not be empty (leave it out to mean every resource)")
    chosen: set[ResourceKey] = set()
    for k, entry in enumerate(entries):
        where = f"{label}: eligible[{k}]"
        entry = _object(entry, where)
        unknown = sorted(set(entry) - {"site", "chip_type"})
        if unknown:
            # A misspelt key would otherwise widen the entry to every resource.
            _fail(where, f"unknown key {unknown[0]!r} (only site and chip_type)")
        site = None if entry.get("site") is None else _text(entry, "site", where)
        chip_type = None if entry.get("chip_type") is None else _text(entry, "chip_type", where)
        matched = [
            r.key
            for r in resources
            if (site is None or r.site == site) and (chip_type is None or r.chip_type == chip_type)
        ]
        if not matched:
            wanted = ", ".join(
                f"{name} {value!r}" for name, value in (("site", site), ("chip type", chip_type)) if value is not None
            )
            _fail(where, f"matches no resource ({wanted or 'nothing given'})")
        chosen.update(matched)
    # The scenario's resource order, whatever order the entries came in.
    return tuple(r.key for r in resources if r.key in chosen)


def _requests(data: Mapping[str, Any], tenant_ids: set[str], resources: Sequence[Resource]) -> tuple[Request, ...]:
    requests: list[Request] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(_list(data["requests"], "requests")):
        item = _object(raw, f"requests[{index}]")
        ident, label = _labelled("requests", index, item)
        _unique(seen, ident, label, f"requests[{index}]")
        _known_keys(item, "request", label)
        tenant = _known_tenant(item, label, tenant_ids)
        demand = _number(item, "demand", label)
        requests.append(Request(ident, tenant, demand, _eligible(item, label, resources)))
    return tuple(requests)


def _known_tenant(item: Mapping[str, Any], label: str, tenant_ids: set[str]) -> str:
    tenant = _text(item, "tenant", label)
    if tenant not in tenant_ids:
        _fail(label, f"unknown tenant {tenant!r}")
    return tenant


def _horizon(data: Mapping[str, Any]) -> tuple[datetime, int]:
    item = _object(data.get("horizon"), "horizon") if "horizon" in data else None
    if item is None:
        _fail("horizon", 'missing (the booking round needs {"start", "hours"})')
    _known_keys(item, "horizon", "horizon")
    start = _time(item, "start", "horizon")
    if start.minute or start.second or start.microsecond:
        _fail("horizon", f"start must be on the hour, got {_show(item['start'])}")
    hours = _whole(item, "hours", "horizon", positive=True)
    if hours > HORIZON_HOURS_MAX:
        _fail("horizon", f"hours must be at most {HORIZON_HOURS_MAX} (two years), got {_show(item['hours'])}")
    try:
        start + timedelta(hours=hours)
    except OverflowError:
        _fail("horizon", f"ends after the year 9999, start {_show(item['start'])}")
    return start, hours


def _reserved(data: Mapping[str, Any], resources: Sequence[Resource]) -> tuple[Reservation, ...]:
    keys = {r.key for r in resources}
    reserved: list[Reservation] = []
    for index, raw in enumerate(_list(data.get("reserved", []), "reserved")):
        label = f"reserved[{index}]"
        item = _object(raw, label)
        site = _text(item, "site", label)
        chip_type = _text(item, "chip_type", label)
        label = f"{label} ({site}/{chip_type})"
        _known_keys(item, "reserved", label)
        if (site, chip_type) not in keys:
            _fail(label, "unknown resource (not in resources)")
        chips = _whole(item, "chips", label)
        start, end = _time(item, "start", label), _time(item, "end", label)
        if end < start:
            _fail(label, "end must not be before start")
        reserved.append(Reservation(site, chip_type, chips, start, end))
    return tuple(reserved)


def _bookings(data: Mapping[str, Any], tenant_ids: set[str], resources: Sequence[Resource]) -> tuple[BookingAsk, ...]:
    bookings: list[BookingAsk] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(_list(data["bookings"], "bookings")):
        item = _object(raw, f"bookings[{index}]")
        ident, label = _labelled("bookings", index, item)
        _unique(seen, ident, label, f"bookings[{index}]")
        _known_keys(item, "booking", label)
        bookings.append(
            BookingAsk(
                id=ident,
                tenant=_known_tenant(item, label, tenant_ids),
                chips=_whole(item, "chips", label, positive=True),
                hours=_whole(item, "hours", label, positive=True),
                earliest_start=_time(item, "earliest_start", label),
                latest_end=_time(item, "latest_end", label),
                submitted_at=_time(item, "submitted_at", label),
                eligible=_eligible(item, label, resources),
            )
        )
    return tuple(bookings)


def parse_scenario(data: object) -> Scenario:
    """Validate a decoded JSON scenario; raise ``ScenarioError`` on the first fault."""
    top = _object(data, "scenario")
    _known_keys(top, "scenario", "scenario")
    throughput = _chip_types(top)
    resources = _resources(top, throughput)
    pools = _pools(top)
    now = None if top.get("now") is None else _parse_time(top["now"], "now")
    half_life = _number(top, "half_life_hours", "scenario", positive=True, default=DEFAULT_HALF_LIFE_HOURS)
    tenants, usage = _tenants(top, pools, resources, now, half_life)
    tenant_ids = {tenant.id for tenant in tenants}
    if usage and now is None:
        _fail("now", "missing (tenants have usage records to decay)")
    requests = _requests(top, tenant_ids, resources) if "requests" in top else None
    horizon_start, horizon_hours = (None, 0)
    bookings = None
    if "bookings" in top:
        horizon_start, horizon_hours = _horizon(top)
        bookings = _bookings(top, tenant_ids, resources)
    return Scenario(
        resources=resources,
        pools=pools,
        tenants=tenants if "tenants" in top else None,
        usage=usage,
        now=now,
        half_life_hours=half_life,
        requests=requests,
        horizon_start=horizon_start,
        horizon_hours=horizon_hours,
        reserved=_reserved(top, resources),
        bookings=bookings,
    )


# -- running and rendering ---------------------------------------------------------------------


def _figure(value: float) -> float:
    # Adding 0.0 turns -0.0 into 0.0 so the bytes never show a negative zero.
    return round(float(value), _FIGURE_DECIMALS) + 0.0


def time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_allocation(scenario: Scenario, result: AllocationResult, *, explain: bool = False) -> dict[str, Any]:
    tenants = scenario.tenants or ()
    requests = scenario.requests or ()
    request_order = {request.id: index for index, request in enumerate(requests)}
    resource_order = {resource.key: index for index, resource in enumerate(scenario.resources)}
    grants = sorted(
        (g for g in result.grants if _figure(g.gpu_hours) > 0.0),
        key=lambda g: (
            request_order.get(g.request, len(request_order)),
            resource_order.get((g.site, g.chip_type), len(resource_order)),
            g.request,
        ),
    )
    rendered: dict[str, Any] = {
        "pools": {p.id: _figure(result.pools.get(p.id, 0.0)) for p in scenario.pools},
        "tenants": {t.id: _figure(result.tenants.get(t.id, 0.0)) for t in tenants},
        "requests": {r.id: _figure(result.requests.get(r.id, 0.0)) for r in requests},
        "grants": [
            {
                "request": g.request,
                "site": g.site,
                "chip_type": g.chip_type,
                "gpu_hours": _figure(g.gpu_hours),
            }
            for g in grants
        ],
    }
    if explain:
        rendered["explanations"] = {t.id: result.explanations.get(t.id, "") for t in tenants}
    return rendered


def render_placement(placement: Placement, *, with_drawn: bool) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "booking": placement.booking,
        "site": placement.site,
        "chip_type": placement.chip_type,
        "start": time_text(placement.start),
    }
    if with_drawn:
        rendered["drawn"] = [
            {"grant": d.grant, "normalized_hours": _figure(d.normalized_hours)} for d in placement.drawn
        ]
    return rendered


def render_booking(result: BookingResult, *, grant_holders: Collection[str] = frozenset()) -> dict[str, Any]:
    """``grant_holders``: the bookings whose tenant holds grants; only their placements show ``drawn``."""
    return {
        "placements": [render_placement(p, with_drawn=p.booking in grant_holders) for p in result.placements],
        "unplaced": [{"booking": u.booking, "reason": u.reason} for u in result.unplaced],
    }


def grant_holders(scenario: Scenario) -> frozenset[str]:
    """The bookings of tenants holding grants (even an empty list): their placements report ``drawn``."""
    holders = {tenant.id for tenant in scenario.tenants or () if tenant.grants is not None}
    return frozenset(booking.id for booking in scenario.bookings or () if booking.tenant in holders)


def scenario_fair_share_exponents(scenario: Scenario) -> dict[str, float]:
    """Tenant id -> x with F = 2^-x: the booking round's order, exact where F underflows."""
    tenants = scenario.tenants or ()
    if not scenario.usage:
        return {tenant.id: 0.0 for tenant in tenants}
    assert scenario.now is not None  # parse_scenario insists on it with usage
    return fair_share_exponents(
        pools=scenario.pools,
        tenants=tenants,
        usage=scenario.usage,
        now=scenario.now,
        half_life_hours=scenario.half_life_hours,
    )


def scenario_fair_share(scenario: Scenario) -> dict[str, float]:
    """Tenant id -> F in (0, 1] (never 0.0, see ``factor.factor_of``)."""
    return {tenant: factor_of(x) for tenant, x in scenario_fair_share_exponents(scenario).items()}


def _allocate() -> Callable[[AllocationInput], AllocationResult]:
    # Imported on demand: a scenario without requests never needs it.
    from allocation.fairshare.allocation_round import allocate

    return allocate


def run_parsed(scenario: Scenario, *, explain: bool = False) -> dict[str, Any]:
    output: dict[str, Any] = {}
    tenants = scenario.tenants or ()
    if scenario.requests is not None:
        result = _allocate()(
            AllocationInput(
                resources=scenario.resources,
                pools=scenario.pools,
                tenants=tenants,
                requests=scenario.requests,
            )
        )
        output["allocation"] = render_allocation(scenario, result, explain=explain)
    exponents = scenario_fair_share_exponents(scenario)
    factors = {tenant: factor_of(x) for tenant, x in exponents.items()}
    if scenario.tenants is not None:
        output["fair_share"] = {tenant.id: float(factors[tenant.id]) for tenant in tenants}
    if scenario.bookings is not None:
        assert scenario.horizon_start is not None  # parse_scenario insists on it
        booking = place_bookings_for(scenario, factors, exponents)
        output["booking"] = render_booking(booking, grant_holders=grant_holders(scenario))
    return output


def place_bookings_for(
    scenario: Scenario, factors: Mapping[str, float], exponents: Mapping[str, float] | None = None
) -> BookingResult:
    from allocation.fairshare.booking_round import place_bookings

    assert scenario.horizon_start is not None
    return place_bookings(
        BookingInput(
            resources=scenario.resources,
            tenants=scenario.tenants or (),
            horizon_start=scenario.horizon_start,
            horizon_hours=scenario.horizon_hours,
            reserved=scenario.reserved,
            bookings=scenario.bookings or (),
            fair_share=dict(factors),
            fair_share_exponent=None if exponents is None else dict(exponents),
        )
    )


def run_scenario(data: object, *, explain: bool = False) -> dict[str, Any]:
    """Validate and run a decoded scenario; the dict ``simulate`` prints."""
    return run_parsed(parse_scenario(data), explain=explain)
