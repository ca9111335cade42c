"""Liveness of the background processes.

Invariant: one row per process name; beat's periodic task refreshes
``seen_at`` so ``/healthz`` can tell a stalled scheduler from a quiet one.
"""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    name = models.CharField(max_length=60, unique=True)
    seen_at = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
