"""Issue 11, item 10: the token login is throttled, and tokens expire and can be revoked.

The throttles count in the Django cache, which every test here empties before and after,
so no other test's logins count against these (or these against theirs).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from allocation.models import AuditEvent
from tests.factories import PASSWORD, member

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def empty_throttles() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def login(username: str, password: str, *, address: str = "198.51.100.7", **headers: Any) -> Any:
    return APIClient().post(URL, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_thirty_wrong_passwords_then_the_right_one_is_throttled(alice: Any) -> None:
    answers = [login("alice", f"guess-{i}").status_code for i in range(30)]
    right = login("alice", PASSWORD)

    assert 429 in answers, answers
    assert set(answers) == {400, 429}
    assert right.status_code == 429
    assert "token" not in right.json()
    error = right.json()["error"]
    assert error["code"] == "throttled"
    assert "Too many login attempts" in error["message"]
    assert int(right["Retry-After"]) > 0


def test_a_login_from_no_address_is_counted_not_a_500(alice: Any) -> None:
    """Some servers (a Unix socket) give no client address: such logins share one count."""
    answers = [
        APIClient().post(URL, {"username": f"nobody-{i}", "password": "x"}, REMOTE_ADDR=None).status_code
        for i in range(21)
    ]

    assert set(answers) == {400, 429}, answers


def test_the_username_throttle_holds_across_addresses(alice: Any) -> None:
    answers = [login("alice", f"guess-{i}", address=f"203.0.113.{i}").status_code for i in range(30)]
    right = login("alice", PASSWORD, address="192.0.2.200")

    assert 429 in answers, answers
    assert right.status_code == 429
    # Spelling the name differently is the same account to the throttle.
    assert login(" ALICE ", PASSWORD, address="192.0.2.201").status_code == 429


def test_the_address_throttle_holds_across_usernames(alice: Any) -> None:
    answers = [login(f"someone-{i}", "guess").status_code for i in range(30)]
    right = login("alice", PASSWORD)

    assert 429 in answers, answers
    assert right.status_code == 429
    # Another address is not held back by this one's guesses.
    assert login("alice", PASSWORD, address="192.0.2.9").status_code == 200


def test_a_forged_forwarded_for_header_does_not_reset_the_address_count(alice: Any) -> None:
    answers = [login(f"someone-{i}", "guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code for i in range(30)]

    assert 429 in answers, answers


def test_the_rates_come_from_the_settings(alice: Any, settings: Any) -> None:
    settings.LOGIN_THROTTLE_USERNAME_RATE = "2/minute"
    assert [login("alice", "guess").status_code for _ in range(3)] == [400, 400, 429]


def test_a_login_answers_the_token_and_when_it_expires(alice: Any) -> None:
    response = login("alice", PASSWORD)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    assert token_client(body["token"]).get("/api/v1/me/").status_code == 200


def test_an_expired_token_answers_401_naming_the_reason(alice: Any, settings: Any) -> None:
    key = login("alice", PASSWORD).json()["token"]
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=settings.API_TOKEN_TTL_HOURS + 1))

    response = token_client(key).get("/api/v1/me/")

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "token_expired"
    assert "expired" in error["message"]
    assert response["WWW-Authenticate"].startswith("Token")


def test_logging_in_again_after_expiry_gives_a_new_working_token(alice: Any, settings: Any) -> None:
    old = login("alice", PASSWORD).json()["token"]
    Token.objects.filter(key=old).update(created=timezone.now() - timedelta(hours=settings.API_TOKEN_TTL_HOURS + 1))

    new = login("alice", PASSWORD).json()["token"]

    assert new != old
    assert token_client(new).get("/api/v1/me/").status_code == 200
    assert token_client(old).get("/api/v1/me/").status_code == 401


def test_the_time_to_live_comes_from_the_settings(alice: Any, settings: Any) -> None:
    key = login("alice", PASSWORD).json()["token"]
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=2))
    assert token_client(key).get("/api/v1/me/").status_code == 200

    settings.API_TOKEN_TTL_HOURS = 1
    assert token_client(key).get("/api/v1/me/").json()["error"]["code"] == "token_expired"


def test_a_stale_token_sent_along_does_not_block_a_login(alice: Any) -> None:
    response = APIClient().post(
        URL,
        {"username": "alice", "password": PASSWORD},
        HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000",
    )
    assert response.status_code == 200


def test_delete_revokes_the_token_presented(alice: Any) -> None:
    key = login("alice", PASSWORD).json()["token"]
    client = token_client(key)

    assert client.delete(URL).status_code == 204

    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert AuditEvent.objects.filter(action="api_token.revoked", actor=alice).count() == 1


def test_delete_without_a_token_is_a_401(db: Any) -> None:
    assert APIClient().delete(URL).status_code == 401


def test_the_settings_page_revokes_my_api_tokens(alice: Any, aurora: Any) -> None:
    key = login("alice", PASSWORD).json()["token"]
    other = member("alice-colleague", aurora, role="member")
    kept = Token.objects.create(user=other).key
    browser = Client()
    browser.force_login(alice)

    page = browser.get("/settings/").content.decode()
    assert "Revoke my API tokens" in page and "expires on" in page
    response = browser.post("/settings/", {"revoke_api_tokens": "1"}, follow=True)

    assert response.status_code == 200
    assert "revoked" in response.content.decode()
    assert token_client(key).get("/api/v1/me/").status_code == 401
    assert token_client(kept).get("/api/v1/me/").status_code == 200


def test_the_settings_page_says_when_my_token_expired(alice: Any, settings: Any) -> None:
    key = login("alice", PASSWORD).json()["token"]
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=settings.API_TOKEN_TTL_HOURS + 1))
    browser = Client()
    browser.force_login(alice)

    assert "Your API token expired on" in browser.get("/settings/").content.decode()
