"""The API's front door: token login, one error format, the schema and docs."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_partner_client_logs_in_with_a_token_and_sees_its_tenant(alice: Any) -> None:
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]

    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/v1/me/").json()
    assert me["username"] == "alice"
    assert me["memberships"] == [{"tenant": "aurora-lab", "tenant_name": "Aurora Lab", "role": "member"}]


def test_wrong_password_is_a_400_naming_no_secret(alice: Any) -> None:
    response = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "nope"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "non_field_errors" in error["fields"]


def test_missing_field_is_named(db: Any) -> None:
    response = APIClient().post("/api/v1/auth/token/", {"username": "alice"})
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]


def test_anonymous_gets_a_json_401(db: Any) -> None:
    response = APIClient().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_session_login_works_for_the_browser(alice: Any) -> None:
    client = APIClient()
    assert client.login(username="alice", password=PASSWORD)
    assert client.get("/api/v1/me/").status_code == 200


def test_openapi_schema_describes_the_api(alice: Any) -> None:
    client = APIClient()
    client.force_authenticate(alice)
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "InvestAI compute access API"
    assert "/api/v1/me/" in schema["paths"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_docs_page_is_served_without_internet(alice: Any) -> None:
    client = APIClient()
    client.force_authenticate(alice)
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html  # the assets come from drf-spectacular-sidecar
