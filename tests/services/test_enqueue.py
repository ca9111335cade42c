"""Services hand work to Celery only through ``allocation.services.enqueue``.

The round commit's checks live in one service, ``round_commit_request``, that
both the page and the API call; these tests hold it to the answers they give.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from allocation.models import AllocationRound, RoundStatus
from allocation.services import rounds
from allocation.services.errors import Conflict, NotAllowed, ServiceError
from allocation.services.requests import RequestContent, request_create, request_decide, request_submit

SERVICES = Path(__file__).resolve().parents[2] / "allocation" / "services"


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(SERVICES.glob("*.py")), ids=lambda p: p.name)
def test_no_service_imports_the_tasks_module(path: Path) -> None:
    assert "allocation.tasks" not in _imported_modules(path)


def _preview(catalogue: Any, aurora: Any, bob: Any, carol: Any, capture: Any) -> AllocationRound:
    req = request_create(
        actor=bob,
        tenant=aurora,
        period=catalogue.period,
        content=RequestContent(title="Aurora 1000", chip_type=catalogue.h100, demand_gpu_hours=1000),
    )
    request_submit(actor=bob, request=req)
    request_decide(actor=carol, request=req, accept=True)
    with capture(execute=True):
        rnd = rounds.round_preview_start(actor=carol, period=catalogue.period)
    rnd.refresh_from_db()
    return rnd


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_celery")
def test_commit_request_queues_the_commit_once_the_caller_commits(
    catalogue: Any,
    aurora: Any,
    bob: Any,
    carol: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    rnd = _preview(catalogue, aurora, bob, carol, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert rounds.round_commit_request(actor=carol, round_id=rnd.pk) is True
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.PREVIEW  # nothing committed before the transaction ends
    for callback in callbacks:
        callback()
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.COMMITTED
    assert rounds.round_commit_request(actor=carol, round_id=rnd.pk) is False  # already committed


@pytest.mark.django_db
def test_commit_request_refuses_what_cannot_be_committed(catalogue: Any, bob: Any, carol: Any) -> None:
    rnd = AllocationRound.objects.create(period=catalogue.period, created_by=carol)
    with pytest.raises(NotAllowed):
        rounds.round_commit_request(actor=bob, round_id=rnd.pk)
    with pytest.raises(Conflict) as not_ready:
        rounds.round_commit_request(actor=carol, round_id=rnd.pk)
    assert not_ready.value.code == "not_ready"
    rnd.status = RoundStatus.DISCARDED
    rnd.save(update_fields=["status"])
    with pytest.raises(ServiceError) as discarded:
        rounds.round_commit_request(actor=carol, round_id=rnd.pk)
    assert discarded.value.field == "status"
