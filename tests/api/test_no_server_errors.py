"""No input makes the API answer 5xx: schemathesis against the OpenAPI schema, as four personas.

The schema is the one ``/api/v1/schema/`` serves, so an endpoint added later is
fuzzed too without touching this file. Each generated request goes through
the WSGI application in-process (no server), inside a savepoint that is
rolled back afterwards, so one request never changes what the next one
sees and the run is reproducible: a fixed seed (``derandomize``) and a
bounded number of examples per operation and mode.

NUL bytes only fail on PostgreSQL (SQLite stores them), so the run is
marked ``postgres`` and skips on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.generation.modes import GenerationMode

from allocation.models import AllocationRequest, Booking

pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

EXAMPLES_PER_OPERATION = 20
START = datetime(2027, 1, 8, tzinfo=UTC)


class _Rollback(Exception):
    """Raised to roll a request's savepoint back after its answer was read."""


@pytest.fixture(autouse=True)
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("NUL bytes and out-of-range timestamps only fail on PostgreSQL")


@pytest.fixture
def known_ids(world: None) -> list[int]:
    """The ids of the objects ``world`` made, so generated ids sometimes name real ones."""
    return sorted(
        {*Booking.objects.values_list("pk", flat=True), *AllocationRequest.objects.values_list("pk", flat=True)}
    )


@pytest.fixture
def schema(known_ids: list[int]) -> Iterator[Any]:
    """The served OpenAPI schema, calling the WSGI application in this thread on the test's connection.

    As Django's test client does, the handler must not close that connection after a request; the
    test client reconnects the signal after each of its own requests, so it is used before this.
    """
    raw = APIClient().get("/api/v1/schema/", {"format": "json"}).json()
    loaded = schemathesis.openapi.from_dict(raw)
    loaded.app = get_wsgi_application()
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield loaded
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("persona", ["alice", "bob", "carol", "oscar"])
def test_no_generated_request_gets_a_server_error(
    persona: str, known_ids: list[int], schema: Any, request: pytest.FixtureRequest
) -> None:
    user = request.getfixturevalue(persona)
    token, _ = Token.objects.get_or_create(user=user)
    headers = {"Authorization": f"Token {token.key}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, data=st.data())
        def check(case: Any, data: st.DataObject) -> None:
            if case.path_parameters and "id" in case.path_parameters:
                case.path_parameters["id"] = data.draw(st.sampled_from([case.path_parameters["id"], *known_ids]))
            status: Any = None
            try:
                with transaction.atomic():
                    status = case.call(headers=headers).status_code
                    raise _Rollback
            except _Rollback:
                pass
            except Exception as exc:  # the WSGI transport re-raises what the application raised
                status = f"{type(exc).__name__}: {exc}"
            if not isinstance(status, int) or status >= 500:
                failures.append(
                    f"{status} {case.method} {case.formatted_path} query={case.query!r} "
                    f"body={case.body!r} headers={case.headers!r}"
                )

        check()
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:40])
