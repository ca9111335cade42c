"""/healthz tells a load balancer and a human whether the app can work."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_healthy_app_reports_every_check(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_unreachable_broker_is_a_503_that_names_it(client: Any, monkeypatch: Any) -> None:
    from investai.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_scheduler_heartbeat_is_shown(client: Any) -> None:
    from allocation.tasks import scheduler_heartbeat

    scheduler_heartbeat.apply(args=["beat"])
    assert client.get("/healthz").json()["checks"]["broker"]["scheduler_last_seen"] is not None
