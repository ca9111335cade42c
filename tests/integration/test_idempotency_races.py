"""Concurrent retries with one ``Idempotency-Key`` over real HTTP create exactly one object (issue 11, item 12).

On PostgreSQL only: pytest-django's ``live_server`` answers each request in its own thread on
its own database connection, as gunicorn would; the clients are threads released together by a
barrier, all sending the same key (a client retrying on several connections after a timeout).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from rest_framework.authtoken.models import Token

from allocation.models import AllocationRequest, AllocationRound, AuditEvent, IdempotencyKey
from tests.api import request_body
from tests.integration.test_booking_races import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

# The development server's default backlog (10) is too short for the clients connecting at once.
ThreadedWSGIServer.request_queue_size = max(ThreadedWSGIServer.request_queue_size, 128)
CLIENTS = 16


@pytest.fixture(autouse=True)
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections need PostgreSQL (SQLite's test database is one in-memory connection)")


def post(url: str, token: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any], str | None]:
    """One client's POST on a connection of its own: (status, body, Idempotent-Replayed)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": key,
        },
    )
    try:
        with urllib.request.build_opener().open(request, timeout=120) as response:
            return response.status, json.loads(response.read()), response.headers.get("Idempotent-Replayed")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw), None
        except ValueError:
            return error.code, {"raw": raw[:500].decode(errors="replace")}, None


def assert_one_created_the_rest_replayed(answers: list[tuple[int, dict[str, Any], str | None]], created: int) -> None:
    statuses = Counter(status for status, _, _ in answers)
    assert statuses == {created: 1, 200: CLIENTS - 1}, [a for a in answers if a[0] not in (200, created)]
    assert {replayed for status, _, replayed in answers if status == 200} == {"true"}
    assert len({body["id"] for _, body, _ in answers}) == 1


def test_one_key_sent_at_once_drafts_one_request(live_server: Any, alice: Any) -> None:
    token = Token.objects.create(user=alice).key
    body = request_body()

    answers = race(CLIENTS, lambda i: post(f"{live_server.url}/api/v1/allocation-requests/", token, body, "draft-once"))

    assert_one_created_the_rest_replayed(answers, 201)
    assert AllocationRequest.objects.count() == 1
    assert AuditEvent.objects.filter(action="request.created").count() == 1
    assert IdempotencyKey.objects.get().response_status == 201


def test_one_key_sent_at_once_starts_one_preview(live_server: Any, carol: Any, catalogue: Any) -> None:
    token = Token.objects.create(user=carol).key

    answers = race(
        CLIENTS,
        lambda i: post(f"{live_server.url}/api/v1/allocation-rounds/", token, {"period": "2027-q1"}, "preview-once"),
    )

    assert_one_created_the_rest_replayed(answers, 202)
    assert AllocationRound.objects.count() == 1


def test_one_key_with_different_bodies_at_once_creates_one_and_refuses_the_others(live_server: Any, alice: Any) -> None:
    token = Token.objects.create(user=alice).key

    answers = race(
        CLIENTS,
        lambda i: post(
            f"{live_server.url}/api/v1/allocation-requests/", token, request_body(title=f"Idea {i}"), "one-key"
        ),
    )

    statuses = Counter(status for status, _, _ in answers)
    assert statuses == {201: 1, 422: CLIENTS - 1}, answers
    assert {body["error"]["code"] for status, body, _ in answers if status == 422} == {"idempotency_mismatch"}
    assert AllocationRequest.objects.count() == 1
