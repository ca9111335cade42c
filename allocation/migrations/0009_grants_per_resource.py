"""Grants bound to the resources they were granted on.

The quota ledger had one row per tenant and period; it becomes one row per
tenant, period and resource (a grant). The rows are derived data, so they
are rebuilt from what they summarise: ``round_granted`` from the committed
rounds' quotas on that resource, ``used`` from the costs of the bookings
placed there (a cancelled booking keeps the cost of the hours it used).
Where a tenant had already booked more on a resource than it was granted
there (a grant spent elsewhere before this change), ``granted`` is what it
booked: the grant is overdrawn, nothing is lost and nothing more can be
booked on it. Reversing sums the grants back into one row per tenant and period.
"""

from collections import defaultdict

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Sum


def _sums(queryset, value):
    rows = (queryset.order_by().values("tenant_id", "period_id", "inventory_id")
            .annotate(total=Sum(value)).values_list("tenant_id", "period_id", "inventory_id", "total"))
    return {(t, p, i): float(total or 0.0) for t, p, i, total in rows}


def rebuild_per_resource(apps, schema_editor):
    Quota = apps.get_model("allocation", "Quota")
    Booking = apps.get_model("allocation", "Booking")
    QuotaBalance = apps.get_model("allocation", "QuotaBalance")
    granted = _sums(Quota.objects.filter(round__status="committed"), "normalized_hours")
    used = _sums(Booking.objects.filter(period__isnull=False, inventory__isnull=False), "cost_normalized_hours")
    QuotaBalance.objects.all().delete()
    QuotaBalance.objects.bulk_create([
        QuotaBalance(tenant_id=t, period_id=p, inventory_id=i, round_granted=granted.get((t, p, i), 0.0),
                     granted=max(granted.get((t, p, i), 0.0), used.get((t, p, i), 0.0)),
                     used=used.get((t, p, i), 0.0))
        for t, p, i in sorted(set(granted) | set(used))], batch_size=2000)
    _check_now(schema_editor)


def collapse_per_tenant(apps, schema_editor):
    QuotaBalance = apps.get_model("allocation", "QuotaBalance")
    totals: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for t, p, granted, used in QuotaBalance.objects.values_list("tenant_id", "period_id", "granted", "used"):
        totals[(t, p)][0] += granted
        totals[(t, p)][1] += used
    QuotaBalance.objects.all().delete()
    QuotaBalance.objects.bulk_create([QuotaBalance(tenant_id=t, period_id=p, granted=g, used=u)
                                      for (t, p), (g, u) in sorted(totals.items())], batch_size=2000)
    _check_now(schema_editor)


def _check_now(schema_editor):
    # PostgreSQL refuses to ALTER a table with deferred foreign-key checks still pending.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ("allocation", "0008_usage_adjustments"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="quotabalance", name="quotabalance_once"),
        migrations.AddField(
            model_name="quotabalance",
            name="inventory",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="balances", to="allocation.inventory"),
        ),
        migrations.AddField(
            model_name="quotabalance",
            name="round_granted",
            field=models.FloatField(default=0),
        ),
        migrations.RunPython(rebuild_per_resource, collapse_per_tenant),
        migrations.AlterField(
            model_name="quotabalance",
            name="inventory",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="balances",
                                    to="allocation.inventory"),
        ),
        migrations.AddConstraint(
            model_name="quotabalance",
            constraint=models.UniqueConstraint(fields=("tenant", "period", "inventory"), name="quotabalance_once"),
        ),
        migrations.AddConstraint(
            model_name="quotabalance",
            constraint=models.CheckConstraint(condition=models.Q(("round_granted__gte", 0)),
                                              name="quotabalance_round_granted_nonneg"),
        ),
    ]
