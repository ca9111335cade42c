"""Helpers for the REST API tests: token clients and the steps of the request walk.

Every step goes over HTTP with a real token, as a partner's client would;
each helper asserts the status it expects so a broken step fails where it breaks.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

Capture = Callable[..., AbstractContextManager[Any]]


def client_for(user: Any = None) -> APIClient:
    """An API client signed in with ``user``'s token; anonymous without a user."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenant": "aurora-lab",
        "period": "2027-q1",
        "title": "Pre-training a 7B multilingual model",
        "abstract": "Open weights for all official EU languages.",
        "chip_type": "h100",
        "demand_gpu_hours": 250_000,
        "eligible_sites": ["muc", "lux"],
        "eligible_chip_types": ["h100"],
        "justification": "Scaling-law runs done at 1B.",
        "expected_outputs": "Weights, paper, evaluation suite.",
    }
    body.update(overrides)
    return body


def draft(user: Any, **overrides: Any) -> dict[str, Any]:
    response = client_for(user).post("/api/v1/allocation-requests/", request_body(**overrides))
    assert response.status_code == 201, response.json()
    return response.json()


def submit(pi: Any, request_id: int) -> dict[str, Any]:
    response = client_for(pi).post(f"/api/v1/allocation-requests/{request_id}/submit/")
    assert response.status_code == 200, response.json()
    return response.json()


def decide(committee: Any, request_id: int, **body: Any) -> dict[str, Any]:
    body.setdefault("decision", "accept")
    response = client_for(committee).post(f"/api/v1/allocation-requests/{request_id}/decide/", body)
    assert response.status_code == 200, response.json()
    return response.json()


def accepted(pi: Any, committee: Any, **overrides: Any) -> dict[str, Any]:
    """A request drafted and submitted by ``pi`` and accepted whole by ``committee``."""
    request_id = draft(pi, **overrides)["id"]
    submit(pi, request_id)
    return decide(committee, request_id)


def preview(committee: Any, capture: Capture, period: str = "2027-q1") -> dict[str, Any]:
    """Start a preview and let the (eager) worker compute it; return the computed round."""
    client = client_for(committee)
    with capture(execute=True):
        response = client.post("/api/v1/allocation-rounds/", {"period": period})
    assert response.status_code == 202, response.json()
    round_ = client.get(f"/api/v1/allocation-rounds/{response.json()['id']}/").json()
    assert round_["ready"] is True, round_
    return round_


def commit(committee: Any, capture: Capture, round_id: int) -> dict[str, Any]:
    client = client_for(committee)
    with capture(execute=True):
        response = client.post(f"/api/v1/allocation-rounds/{round_id}/commit/")
    assert response.status_code in (200, 202), response.json()
    return client.get(f"/api/v1/allocation-rounds/{round_id}/").json()
