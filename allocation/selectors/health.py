"""Whether background workers seem to be running."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from allocation.models import Heartbeat


@dataclass(frozen=True)
class WorkerPulse:
    last_seen: datetime | None  # when a worker last ran beat's heartbeat task
    quiet: bool  # no beat for three intervals: queued work is probably not being picked up


def worker_pulse(*, now: datetime | None = None) -> WorkerPulse:
    """Whether background workers seem to be running, from beat's heartbeat. Pages that wait on a
    task use it to say why nothing happens instead of spinning forever."""
    now = now or timezone.now()
    seen = Heartbeat.objects.filter(name="beat").values_list("seen_at", flat=True).first()
    patience = timedelta(seconds=3 * settings.HEARTBEAT_SECONDS)
    return WorkerPulse(last_seen=seen, quiet=seen is None or now - seen > patience)
