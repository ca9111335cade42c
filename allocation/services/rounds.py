"""Quota rounds: preview with the engine, then commit the grants.

Invariants:
- a round's status changes only in ``round_transition``: preview ->
  committed | discarded, committed -> superseded;
- computing a preview and committing are idempotent: running either twice,
  or re-running after a worker died half-way, gives the same rows once
  (the commit is one transaction under a lock on the period, and a
  committed round is returned as it is);
- at most one committed round per period (also a database constraint); a
  newer commit supersedes the older, whose quotas and audit events remain;
- a preview whose inputs changed since it was computed (a decision,
  capacity, pool weights) cannot be committed: it would grant what the
  committee did not see;
- a tenant that already booked more on a resource than the round grants it
  there does not block the commit: that grant becomes what it booked and is
  marked overdrawn (nothing more can be booked on it); the preview lists
  such grants (``result["overdrawn"]``) and the commit records the final list.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from allocation import fairshare, policies, selectors
from allocation.models import (
    AllocationPeriod,
    AllocationRound,
    AuditEvent,
    Inventory,
    Pool,
    Quota,
    QuotaBalance,
    RoundStatus,
    Tenant,
    TenantKind,
)
from allocation.services import enqueue, ledger
from allocation.services.audit import audit_record
from allocation.services.errors import Conflict, NotAllowed, ServiceError
from allocation.services.notifications import tenants_notify

logger = logging.getLogger(__name__)

TRANSITIONS: dict[str, set[str]] = {
    RoundStatus.PREVIEW: {RoundStatus.COMMITTED, RoundStatus.DISCARDED},
    RoundStatus.COMMITTED: {RoundStatus.SUPERSEDED},
}
# Float slack when comparing a pool's grant with its weight or its demand.
SHARE_TOLERANCE = 1e-9


def round_transition(rnd: AllocationRound, to: str) -> None:
    """The one place a round's status changes."""
    if to not in TRANSITIONS.get(rnd.status, set()):
        raise ServiceError(
            "status",
            _("A %(status)s round cannot become %(to)s.") % {"status": rnd.status, "to": to},
            code="invalid_transition",
        )
    rnd.status = to


@transaction.atomic
def round_preview_start(*, actor: Any, period: AllocationPeriod) -> AllocationRound:
    """Create a preview round; the engine runs in a Celery task after commit."""
    if not policies.is_committee(actor):
        raise NotAllowed(_("Only allocation committee members may run quota rounds."))
    rnd = AllocationRound.objects.create(period=period, created_by=actor)
    audit_record(actor=actor, action="round.previewed", obj=rnd, after={"period": period.pk})
    enqueue.round_compute(round_id=rnd.pk)
    return rnd


def _jain(values: list[float]) -> float:
    """Jain's index: 1.0 when every value is equal, 1/n when one takes all."""
    if not values or not any(values):
        return 1.0
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def _public_share(pools: list[dict[str, Any]], total_granted: float) -> dict[str, Any]:
    """The public pool's share of granted hours, its target (the pool's weight) and the verdict.

    Measured by pool, like the weights the engine used: the public pool also
    holds public bodies, and partners' pools may hold startups, so counting
    tenant kinds would compare different groups. The target is met when the
    pool got at least its weight, or everything its tenants asked for (a pool
    that asks for less than its weight cannot get more).
    """
    public = next((p for p in pools if p["public"]), None)
    if public is None:
        return {"public_share": 0.0, "public_target": 0.0, "public_target_met": True}
    share = public["granted"] / total_granted if total_granted else 0.0
    served = public["granted"] >= public["demand"] * (1 - SHARE_TOLERANCE)
    return {
        "public_share": share,
        "public_target": public["weight"],
        "public_target_met": served or share >= public["weight"] - SHARE_TOLERANCE,
    }


def _summary(snap: selectors.AllocationSnapshot, result: fairshare.AllocationResult) -> dict[str, Any]:
    pools = {p.pk: p for p in Pool.objects.all()}
    total_weight = sum(snap.pool_weight.values()) or 1.0
    total_normalized = sum(snap.capacity.get(inv.pk, 0.0) * inv.chip_type.throughput for inv in snap.inventory.values())
    demand_of_tenant: dict[int, float] = defaultdict(float)
    for req in snap.requests.values():
        demand_of_tenant[req.tenant_id] += req.accepted_normalized_hours or 0.0
    tenant_weight_in_pool: dict[int, float] = defaultdict(float)
    for tenant in snap.tenants.values():
        tenant_weight_in_pool[tenant.pool_id] += tenant.weight
    tenants: list[dict[str, Any]] = []
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    entitlement_met: list[float] = []
    for tenant in sorted(snap.tenants.values(), key=lambda t: t.name):
        granted = result.tenants.get(str(tenant.pk), 0.0)
        demand = demand_of_tenant[tenant.pk]
        share = (snap.pool_weight.get(tenant.pool_id, 0.0) / total_weight) * (
            tenant.weight / tenant_weight_in_pool[tenant.pool_id]
        )
        entitled = min(demand, share * total_normalized)
        if entitled > 0:
            entitlement_met.append(granted / entitled)
        by_kind[tenant.kind][0] += demand
        by_kind[tenant.kind][1] += granted
        tenants.append(
            {
                "id": tenant.pk,
                "name": tenant.name,
                "kind": tenant.kind,
                "pool": tenant.pool_id,
                "demand": demand,
                "granted": granted,
                "share": share,
                "explanation": result.explanations.get(str(tenant.pk), ""),
            }
        )
    total_granted = sum(result.tenants.values())
    demand_of_pool: dict[int, float] = defaultdict(float)
    for tenant in snap.tenants.values():
        demand_of_pool[tenant.pool_id] += demand_of_tenant[tenant.pk]
    pool_rows = [
        {
            "id": pid,
            "name": pools[pid].name,
            "public": pools[pid].is_public,
            "weight": w / total_weight,
            "demand": demand_of_pool[pid],
            "granted": result.pools.get(str(pid), 0.0),
        }
        for pid, w in sorted(snap.pool_weight.items())
    ]
    inventory_by_key = {(inv.gigafactory.slug, inv.chip_type.slug): inv for inv in snap.inventory.values()}
    grants = []
    for grant in result.grants:
        inv = inventory_by_key[(grant.site, grant.chip_type)]
        grants.append(
            {
                "request": int(grant.request),
                "inventory": inv.pk,
                "gpu_hours": grant.gpu_hours,
                "normalized_hours": grant.gpu_hours * inv.chip_type.throughput,
            }
        )
    return {
        "fingerprint": snap.fingerprint(),
        "capacity_normalized_hours": total_normalized,
        "demand_normalized_hours": sum(demand_of_tenant.values()),
        "granted_normalized_hours": total_granted,
        "pools": pool_rows,
        # By tenant kind, whatever the pool: a breakdown, not the public share.
        "kinds": [
            {"kind": kind.value, "label": str(kind.label), "demand": by_kind[kind][0], "granted": by_kind[kind][1]}
            for kind in TenantKind
        ],
        **_public_share(pool_rows, total_granted),
        "jain_index": _jain(entitlement_met),
        "tenants": tenants,
        "grants": grants,
    }


def _overdrawn_rows(overdrawn: list[ledger.Overdrawn]) -> list[dict[str, Any]]:
    """The overdrawn grants as the committee reads them: tenant and resource by name."""
    names = dict(Tenant.objects.filter(pk__in={o.tenant_id for o in overdrawn}).values_list("id", "name"))
    resources = {
        inv.pk: str(inv)
        for inv in Inventory.objects.filter(pk__in={o.inventory_id for o in overdrawn}).select_related(
            "gigafactory", "chip_type"
        )
    }
    return [
        {**o.as_dict(), "tenant_name": names.get(o.tenant_id, ""), "resource": resources.get(o.inventory_id, "")}
        for o in overdrawn
    ]


def _overdrawn_preview(period: AllocationPeriod, grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The grants this preview would find overdrawn if committed now."""
    tenant_of = dict(period.requests.values_list("id", "tenant_id"))
    granted: dict[tuple[int, int], float] = defaultdict(float)
    for g in grants:
        granted[(tenant_of[g["request"]], g["inventory"])] += g["normalized_hours"]
    return _overdrawn_rows(ledger.grants_overdrawn(period_id=period.pk, granted=granted))


def _ids(rnd: AllocationRound) -> dict[str, Any]:
    """The ids a round's log lines carry as fields (the JSON format indexes them)."""
    return {"round_id": rnd.pk, "period_slug": rnd.period.slug}


def round_compute(*, round_id: int) -> AllocationRound:
    """Run the engine on a snapshot and store the preview (idempotent)."""
    rnd = AllocationRound.objects.select_related("period").get(pk=round_id)
    if rnd.result is not None or rnd.status != RoundStatus.PREVIEW:
        return rnd
    started = time.perf_counter()
    logger.info("round %s (period %s): computing the preview", rnd.pk, rnd.period.slug, extra=_ids(rnd))
    snap = selectors.allocation_snapshot(period=rnd.period)
    try:
        summary = _summary(snap, fairshare.allocate(snap.engine_input))
        summary["overdrawn"] = _overdrawn_preview(rnd.period, summary["grants"])
    except fairshare.EngineError as exc:
        # Refused, not crashed (e.g. weights no float can carry would grant above capacity): the
        # committee reads why, naming the resource, and a retry would refuse again.
        failure = _("The engine refused this round: %(reason)s") % {"reason": exc}
        AllocationRound.objects.filter(pk=rnd.pk).update(failure=failure)
        logger.warning("round %s (period %s): the engine refused it: %s", rnd.pk, rnd.period.slug, exc, extra=_ids(rnd))
        rnd.refresh_from_db()
        return rnd
    except Exception as exc:  # shown to the committee instead of a spinner that never ends
        AllocationRound.objects.filter(pk=rnd.pk).update(failure=f"{type(exc).__name__}: {exc}")
        logger.exception("round %s (period %s): computing failed", rnd.pk, rnd.period.slug, extra=_ids(rnd))
        raise
    with transaction.atomic():
        period, rnd = rnd.period, AllocationRound.objects.select_for_update().get(pk=round_id)
        rnd.period = period  # read above: the log line names it without a query
        if rnd.result is None and rnd.status == RoundStatus.PREVIEW:
            rnd.result, rnd.computed_at, rnd.failure = summary, timezone.now(), ""
            rnd.save(update_fields=["result", "computed_at", "failure"])
            _computed_log(rnd, summary, time.perf_counter() - started)
    return rnd


def _computed_log(rnd: AllocationRound, summary: dict[str, Any], seconds: float) -> None:
    counts = {
        "grants": len(summary["grants"]),
        "tenants": len(summary["tenants"]),
        "overdrawn": len(summary["overdrawn"]),
        "seconds": round(seconds, 3),
    }
    logger.info(
        "round %s (period %s): preview computed: %s grants to %s tenants, %s overdrawn, in %.3f s",
        rnd.pk,
        rnd.period.slug,
        counts["grants"],
        counts["tenants"],
        counts["overdrawn"],
        seconds,
        extra={**_ids(rnd), **counts},
    )


def _fault_injection_pause() -> None:
    # Lets the crash test kill a worker while the commit transaction is open.
    seconds = float(os.environ.get("INVESTAI_FAULT_PAUSE_IN_COMMIT", "0") or 0)
    if seconds > 0:
        marker = os.environ.get("INVESTAI_FAULT_MARKER")
        if marker:
            with open(marker, "a") as fh:
                fh.write(f"{os.getpid()}\n")
        time.sleep(seconds)


@transaction.atomic
def round_commit(*, actor: Any, round_id: int) -> AllocationRound:
    if not policies.is_committee(actor):
        raise NotAllowed(_("Only allocation committee members may commit quota rounds."))
    rnd = AllocationRound.objects.select_for_update().select_related("period").get(pk=round_id)
    # Serialises commits of one period so two can never both be "the" round.
    AllocationPeriod.objects.select_for_update().get(pk=rnd.period_id)
    if rnd.status == RoundStatus.COMMITTED:
        return rnd
    if rnd.result is None:
        raise Conflict("round", _("The preview is still being computed; commit it when it is ready."))
    current = selectors.allocation_snapshot(period=rnd.period).fingerprint()
    if current != rnd.result["fingerprint"]:
        raise Conflict(
            "round",
            _("Decisions, capacity or pool weights changed since this preview; run a new preview and commit that."),
            code="stale_preview",
        )
    affected = set(
        Quota.objects.filter(period=rnd.period, round__status=RoundStatus.COMMITTED).values_list("tenant_id", flat=True)
    )
    superseded = []
    for previous in AllocationRound.objects.select_for_update().filter(period=rnd.period, status=RoundStatus.COMMITTED):
        round_transition(previous, RoundStatus.SUPERSEDED)
        previous.save(update_fields=["status"])
        superseded.append(previous.pk)
        audit_record(
            actor=actor,
            action="round.superseded",
            obj=previous,
            before={"status": RoundStatus.COMMITTED},
            after={"status": RoundStatus.SUPERSEDED},
        )
    round_transition(rnd, RoundStatus.COMMITTED)
    tenant_of = dict(rnd.period.requests.values_list("id", "tenant_id"))
    quotas = Quota.objects.bulk_create(
        [
            Quota(
                round=rnd,
                period=rnd.period,
                tenant_id=tenant_of[g["request"]],
                request_id=g["request"],
                inventory_id=g["inventory"],
                gpu_hours=g["gpu_hours"],
                normalized_hours=g["normalized_hours"],
            )
            for g in rnd.result["grants"]
        ],
        batch_size=2000,
    )
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=actor,
                action="quota.granted",
                object_type="quota",
                object_id=str(q.pk),
                tenant_id=q.tenant_id,
                after={
                    "round": rnd.pk,
                    "request": q.request_id,
                    "inventory": q.inventory_id,
                    "gpu_hours": q.gpu_hours,
                    "normalized_hours": q.normalized_hours,
                },
            )
            for q in quotas
        ],
        batch_size=2000,
    )
    rnd.committed_at = timezone.now()
    rnd.save(update_fields=["status", "committed_at"])
    # Only now are the new quotas "in force" for the balances to read. Every tenant with a grant row counts:
    # one that booked in the period before any round (or whose grant this round drops) is regranted too.
    booked = set(QuotaBalance.objects.filter(period=rnd.period).values_list("tenant_id", flat=True))
    overdrawn = _overdrawn_rows(
        ledger.balances_regrant(period_id=rnd.period_id, tenant_ids=affected | booked | {q.tenant_id for q in quotas})
    )
    rnd.result = {**rnd.result, "overdrawn": overdrawn}  # what the commit found, which may differ from the preview
    rnd.save(update_fields=["result"])
    _fault_injection_pause()
    audit_record(
        actor=actor,
        action="round.committed",
        obj=rnd,
        before={"status": RoundStatus.PREVIEW},
        after={"status": RoundStatus.COMMITTED, "quotas": len(quotas), "overdrawn": len(overdrawn)},
    )
    _grants_notify(rnd, quotas, overdrawn)
    _committed_log(rnd, len(quotas), overdrawn, superseded)
    return rnd


def _committed_log(rnd: AllocationRound, grants: int, overdrawn: list[dict[str, Any]], superseded: list[int]) -> None:
    logger.info(
        "round %s (period %s): committed: %s grants written, %s overdrawn, superseded rounds %s",
        rnd.pk,
        rnd.period.slug,
        grants,
        len(overdrawn),
        superseded or "none",
        extra={**_ids(rnd), "grants": grants, "overdrawn": len(overdrawn), "superseded_round_ids": superseded},
    )
    for o in overdrawn:  # rare, and each one is a tenant that can book no more on a resource: worth a line
        logger.warning(
            "round %s (period %s): grant of tenant %s on resource %s overdrawn: %.1f booked, %.1f granted",
            rnd.pk,
            rnd.period.slug,
            o["tenant"],
            o["inventory"],
            o["used"],
            o["granted"],
            extra={**_ids(rnd), "tenant_id": o["tenant"], "resource_id": o["inventory"]},
        )


def _grants_notify(rnd: AllocationRound, quotas: list[Quota], overdrawn: list[dict[str, Any]]) -> None:
    """Tell each tenant what it was granted, and where its grant is overdrawn (it cannot book more there)."""
    granted: dict[int, float] = defaultdict(float)
    for q in quotas:
        granted[q.tenant_id] += q.normalized_hours
    over: dict[int, list[str]] = defaultdict(list)
    for o in overdrawn:
        over[o["tenant"]].append(o["resource"])
    messages = {}
    for tenant_id in sorted(set(granted) | set(over)):
        body = _("Your organisation was granted %(hours)s normalized hours for %(period)s.") % {
            "hours": f"{granted.get(tenant_id, 0.0):,.0f}",
            "period": rnd.period.name,
        }
        if tenant_id in over:
            body += " " + _(
                "It had already booked more than this round grants it on %(resources)s: its grant "
                "there is what it booked, and nothing more can be booked on it."
            ) % {"resources": ", ".join(over[tenant_id])}
        messages[tenant_id] = (_("Quota granted for %(period)s") % {"period": rnd.period.name}, body)
    tenants_notify(messages=messages)


def round_commit_request(*, actor: Any, round_id: int) -> bool:
    """Check a round can be committed and queue its commit; False when it already is committed.

    The worker's ``round_commit`` re-checks everything under locks; these
    checks only answer the committee at once instead of queueing a commit
    that must fail.
    """
    if not policies.is_committee(actor):
        raise NotAllowed(_("Only allocation committee members may commit quota rounds."))
    rnd = AllocationRound.objects.get(pk=round_id)
    if rnd.status == RoundStatus.COMMITTED:
        return False
    if rnd.status != RoundStatus.PREVIEW:
        raise ServiceError(
            "status",
            _("This round is %(status)s; only a preview can be committed.")
            % {"status": rnd.get_status_display().lower()},
            code="invalid_transition",
        )
    if rnd.result is None:
        not_ready = _("The preview is still being computed; commit it when it is ready.")
        raise Conflict("round", rnd.failure or not_ready, code="failed" if rnd.failure else "not_ready")
    enqueue.round_commit(round_id=rnd.pk, actor_id=actor.pk)
    return True


@transaction.atomic
def round_discard(*, actor: Any, round_id: int) -> AllocationRound:
    if not policies.is_committee(actor):
        raise NotAllowed(_("Only allocation committee members may discard quota rounds."))
    rnd = AllocationRound.objects.select_for_update().get(pk=round_id)
    round_transition(rnd, RoundStatus.DISCARDED)
    rnd.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="round.discarded",
        obj=rnd,
        before={"status": RoundStatus.PREVIEW},
        after={"status": RoundStatus.DISCARDED},
    )
    return rnd
