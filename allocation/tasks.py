"""Celery tasks: thin, take ids, safe to run twice, call services."""

from __future__ import annotations

from celery import shared_task

from allocation.services import heartbeat


@shared_task(name="allocation.tasks.scheduler_heartbeat")
def scheduler_heartbeat(name: str = "beat") -> int:
    """Beat's pulse; ``/healthz`` shows when it last ran."""
    return heartbeat.heartbeat_record(name=name)
