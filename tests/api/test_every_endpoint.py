"""Issue 11, item 9: every API route answers OPTIONS, and renders in a browser, for every persona.

The routes are enumerated from the URL resolver (``allocation.api.urls``),
so an endpoint added later is walked too. Detail routes are called with the
id of a real object of their kind, so the browsable API renders real rows.
Before, OPTIONS on any create or action failed with DRF's "should include a
serializer_class" AssertionError, and opening a list in a browser did too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver

from allocation.api import urls as api_urls
from allocation.models import (
    AllocationPeriod,
    AllocationRequest,
    AllocationRound,
    AuditEvent,
    Booking,
    Quota,
    UsageRecord,
)
from tests.api import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
PREFIX = "/api/v1/"
START = datetime(2027, 1, 8, tzinfo=UTC)
PERSONAS = ["alice", "bob", "carol", "oscar"]
# What each router basename's ``{pk}`` names, to give detail routes a real object.
KINDS: dict[str, Any] = {
    "period": AllocationPeriod,
    "allocation-request": AllocationRequest,
    "quota": Quota,
    "allocation-round": AllocationRound,
    "audit-event": AuditEvent,
    "booking": Booking,
    "usage-record": UsageRecord,
}


def routes() -> list[tuple[str, URLPattern]]:
    """(route, pattern) of every API URL, nested includes flattened."""
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            else:
                found.append((prefix + str(entry.pattern), entry))

    walk(api_urls.urlpatterns, "")
    return found


def methods(pattern: URLPattern) -> set[str]:
    """The HTTP methods a route's view answers (a viewset's action map, or an APIView's handlers)."""
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:
        return {method.upper() for method in actions}
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view_class, m)}


def url_of(route: str, pattern: URLPattern) -> str:
    """The route with its ``pk`` filled in by a real object of its kind (a regex route, from the router)."""
    path = route.lstrip("^").rstrip("$")
    if "(?P<pk>" not in path:
        return PREFIX + path
    basename = pattern.callback.initkwargs["basename"]
    model = KINDS.get(basename) or getattr(getattr(pattern.callback.cls, "queryset", None), "model", None)
    obj = model.objects.order_by("pk").first() if model is not None else None
    # A kind this file does not know yet is still walked, with an id that may name nothing (a 404, not a 5xx).
    head, tail = path.split("(?P<pk>", 1)
    return PREFIX + head + str(obj.pk if obj is not None else 1) + tail.split(")", 1)[1]


def test_the_walk_covers_the_api(world: None) -> None:
    walked = {route for route, _ in routes()}
    assert len(walked) >= 20
    assert any("bookings" in route and "cancel" in route for route in walked)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_answers_options(world: None, persona: str, request: pytest.FixtureRequest) -> None:
    client = client_for(request.getfixturevalue(persona))
    answers = {}
    for route, pattern in routes():
        url = url_of(route, pattern)
        response = client.options(url)
        answers[url] = response.status_code
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        allowed = {m.strip() for m in response["Allow"].split(",")}
        assert methods(pattern) <= allowed, (url, allowed)
    assert answers


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_get_route_renders_in_a_browser(world: None, persona: str, request: pytest.FixtureRequest) -> None:
    client = client_for(request.getfixturevalue(persona))
    for route, pattern in routes():
        url = url_of(route, pattern)
        response = client.get(url, HTTP_ACCEPT="text/html")
        assert response.status_code < 500, (url, response.status_code)
        if "GET" in methods(pattern) and response.status_code == 200 and "schema" not in url:
            assert response["Content-Type"].startswith("text/html"), (url, response["Content-Type"])


@pytest.mark.parametrize(
    ("persona", "url"),
    [
        ("alice", "/api/v1/bookings/"),
        ("alice", "/api/v1/allocation-requests/"),
        ("carol", "/api/v1/allocation-rounds/"),
        ("oscar", "/api/v1/usage-records/"),
    ],
)
def test_the_lists_of_the_issue_render_with_a_form_to_post(
    world: None, persona: str, url: str, request: pytest.FixtureRequest
) -> None:
    response = client_for(request.getfixturevalue(persona)).get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'data-override="content"' in html  # the raw body form for POST
