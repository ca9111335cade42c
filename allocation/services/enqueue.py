"""The one place services hand work to Celery.

Each function takes ids and schedules its task once the caller's transaction
commits (a worker could not see the rows before, and a rollback drops the
callback together with them). ``allocation.tasks`` is imported lazily by
name, so services never import tasks while tasks import services: no import
cycle. ``importlib`` rather than ``send_task`` because ``send_task`` skips
``CELERY_TASK_ALWAYS_EAGER``, which tests and the demo rely on.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.db import transaction

TASKS_MODULE = "allocation.tasks"


def _task(name: str) -> Any:
    return getattr(importlib.import_module(TASKS_MODULE), name)


def _on_commit(name: str, *args: Any) -> None:
    def send() -> None:
        _task(name).delay(*args)

    # Named after its task, so a captured on-commit callback says what it queues.
    send.__qualname__ = f"enqueue.{name}"
    transaction.on_commit(send)


def round_compute(*, round_id: int) -> None:
    """Run the engine for this preview round in a worker."""
    _on_commit("round_compute", round_id)


def round_commit(*, round_id: int, actor_id: int) -> None:
    """Commit this round's grants in a worker, as this actor."""
    _on_commit("round_commit", round_id, actor_id)


def notifications_send(*, notification_ids: list[int]) -> None:
    """Mail these outbox rows in a worker; nothing to queue for no rows."""
    if notification_ids:
        _on_commit("notifications_send", list(notification_ids))


def notifications_send_now(*, notification_ids: list[int]) -> None:
    """Queue these committed outbox rows at once: for the relay, whose rows are already in the database."""
    if notification_ids:
        _task("notifications_send").delay(list(notification_ids))
