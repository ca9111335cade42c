"""A task goes through Redis to a real worker process and lands in the database."""

from __future__ import annotations

from typing import Any

import pytest

from allocation.models import Heartbeat
from allocation.tasks import scheduler_heartbeat
from tests.integration.workers import REDIS_URL, celery_worker, require_postgres_and_redis, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_heartbeat_task_runs_in_a_worker_process_through_redis(db: Any) -> None:
    require_postgres_and_redis()
    from investai.celery import app

    with celery_worker() as (worker, queue), app.connection_for_write(REDIS_URL) as conn:
        scheduler_heartbeat.apply_async(args=["ci-worker"], queue=queue, connection=conn)
        scheduler_heartbeat.apply_async(args=["ci-worker"], queue=queue, connection=conn)
        arrived = wait_for(lambda: Heartbeat.objects.filter(name="ci-worker", beats=2).exists())
        if not arrived:
            worker.terminate()
            output = worker.communicate(timeout=10)[0].decode(errors="replace")
            pytest.fail(f"the worker did not record both beats; its output:\n{output[-3000:]}")
    assert Heartbeat.objects.get(name="ci-worker").beats == 2
