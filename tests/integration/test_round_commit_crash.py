"""A quota round commit survives a worker killed mid-transaction and a double send.

Real worker processes, real Redis, real PostgreSQL: the commit task runs under
``acks_late`` with ``reject_on_worker_lost``, so a worker that dies mid-commit
leaves its message to be redelivered, and the transaction it had open is
rolled back by the database. The grants must then exist exactly once.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from allocation.models import AllocationRound, AuditEvent, Quota, RoundStatus
from allocation.services import rounds
from allocation.services.requests import RequestContent, request_create, request_decide, request_submit
from allocation.tasks import round_commit
from tests.integration.workers import REDIS_URL, celery_worker, require_postgres_and_redis, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def previewed_round(catalogue: Any, aurora: Any, bob: Any, nimbus: Any, mallory: Any, carol: Any) -> AllocationRound:
    require_postgres_and_redis()
    from investai.celery import app

    app.conf.task_always_eager = True  # set-up only: decisions mail members inline
    try:
        for tenant, pi, hours in ((aurora, bob, 150_000), (nimbus, mallory, 120_000)):
            req = request_create(
                actor=pi,
                tenant=tenant,
                period=catalogue.period,
                content=RequestContent(title=f"{tenant.name} run", chip_type=catalogue.h100, demand_gpu_hours=hours),
            )
            request_submit(actor=pi, request=req)
            request_decide(actor=carol, request=req, accept=True)
        rnd = AllocationRound.objects.create(period=catalogue.period, created_by=carol)
        rounds.round_compute(round_id=rnd.pk)
    finally:
        app.conf.task_always_eager = False
    rnd.refresh_from_db()
    assert rnd.result is not None and len(rnd.result["grants"]) >= 2
    return rnd


def send_commit(rnd: AllocationRound, actor_id: int, queue: str) -> None:
    from investai.celery import app

    with app.connection_for_write(REDIS_URL) as conn:
        round_commit.apply_async(args=[rnd.pk, actor_id], queue=queue, connection=conn)


def assert_granted_once(rnd: AllocationRound) -> None:
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.COMMITTED
    assert Quota.objects.filter(round=rnd).count() == len(rnd.result["grants"])
    assert AuditEvent.objects.filter(action="round.committed", object_id=str(rnd.pk)).count() == 1
    assert AuditEvent.objects.filter(action="quota.granted").count() == len(rnd.result["grants"])


def test_worker_killed_mid_commit_is_retried_and_grants_once(
    previewed_round: AllocationRound, carol: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "in-commit"
    env = {"INVESTAI_FAULT_PAUSE_IN_COMMIT": "3", "INVESTAI_FAULT_MARKER": str(marker)}
    with celery_worker(pool="prefork", extra_env=env) as (worker, queue):
        send_commit(previewed_round, carol.pk, queue)
        assert wait_for(lambda: marker.exists() and marker.read_text().strip(), timeout=60), "commit never started"
        first_pid = int(marker.read_text().split()[0])
        # The quotas are written but the transaction is still open: kill the process running it.
        assert Quota.objects.count() == 0
        os.kill(first_pid, signal.SIGKILL)
        committed = wait_for(
            lambda: AllocationRound.objects.filter(pk=previewed_round.pk, status=RoundStatus.COMMITTED).exists(),
            timeout=90,
        )
        if not committed:
            worker.terminate()
            pytest.fail("not redelivered:\n" + worker.communicate(timeout=10)[0].decode(errors="replace")[-3000:])
    attempts = marker.read_text().split()
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # a second process ran it
    assert_granted_once(previewed_round)


def test_two_workers_committing_the_same_round_at_once_grant_once(previewed_round: AllocationRound, carol: Any) -> None:
    env = {"INVESTAI_FAULT_PAUSE_IN_COMMIT": "1"}  # widen the window in which both run
    with celery_worker(extra_env=env, name="a") as (_, queue), celery_worker(queue=queue, extra_env=env, name="b"):
        send_commit(previewed_round, carol.pk, queue)
        send_commit(previewed_round, carol.pk, queue)
        assert wait_for(
            lambda: AllocationRound.objects.filter(pk=previewed_round.pk, status=RoundStatus.COMMITTED).exists(),
            timeout=60,
        )
        # Let the second task finish too before counting.
        assert wait_for(lambda: AuditEvent.objects.filter(action="round.committed").count() >= 1, timeout=10)
    assert_granted_once(previewed_round)
