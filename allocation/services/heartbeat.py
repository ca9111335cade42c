"""Record that a background process is alive.

Invariant: one row per name, updated in place with a single statement so two
workers beating at once never lose a beat or create a duplicate row.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from allocation.models import Heartbeat


@transaction.atomic
def heartbeat_record(*, name: str) -> int:
    now = timezone.now()
    Heartbeat.objects.get_or_create(name=name, defaults={"seen_at": now})
    Heartbeat.objects.filter(name=name).update(seen_at=now, beats=F("beats") + 1)
    return Heartbeat.objects.values_list("beats", flat=True).get(name=name)
