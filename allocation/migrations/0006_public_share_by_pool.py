"""Stored round results: the public share measured by pool, not by tenant kind.

Rounds computed before this counted startups, SMEs and researchers wherever
they sat as the "public share", and left out public bodies in the public
pool. Every stored result already holds what the pool figure needs (each
pool's granted hours, each tenant's pool and demand), so it is recomputed
here; everything else in the result, including the per-kind breakdown, is
kept as it was. The reverse leaves the corrected figures in place.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import migrations

TOLERANCE = 1e-9  # as allocation.services.rounds.SHARE_TOLERANCE


def _by_pool(result: dict[str, Any], public_ids: set[int]) -> dict[str, Any]:
    demand: dict[int, float] = defaultdict(float)
    for tenant in result.get("tenants", []):
        demand[tenant["pool"]] += tenant.get("demand") or 0.0
    pools = [{**p, "public": p["id"] in public_ids, "demand": demand[p["id"]]} for p in result.get("pools", [])]
    total = result.get("granted_normalized_hours") or 0.0
    public = next((p for p in pools if p["public"]), None)
    if public is None:
        return {**result, "pools": pools, "public_share": 0.0, "public_target": 0.0, "public_target_met": True}
    share = public["granted"] / total if total else 0.0
    met = public["granted"] >= public["demand"] * (1 - TOLERANCE) or share >= public["weight"] - TOLERANCE
    return {**result, "pools": pools, "public_share": share, "public_target": public["weight"],
            "public_target_met": met}


def forwards(apps: Any, schema_editor: Any) -> None:
    AllocationRound = apps.get_model("allocation", "AllocationRound")
    Pool = apps.get_model("allocation", "Pool")
    public_ids = set(Pool.objects.filter(is_public=True).values_list("id", flat=True))
    for rnd in AllocationRound.objects.filter(result__isnull=False).only("id", "result").iterator(chunk_size=50):
        if isinstance(rnd.result, dict) and "pools" in rnd.result:
            rnd.result = _by_pool(rnd.result, public_ids)
            rnd.save(update_fields=["result"])


class Migration(migrations.Migration):
    dependencies = [("allocation", "0005_notification_outbox")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
