"""``/healthz``: is the database, the cache and the broker reachable?

Invariant: answers 200 only when every check passes, 503 otherwise, always
with a JSON body naming each check, so a load balancer and a human read the
same thing. It needs no login and reveals no data.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from allocation.models import Heartbeat

logger = logging.getLogger(__name__)


def _check(name: str, fn: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:  # a health check reports failures, it never raises them
        error = f"{type(exc).__name__}: {exc}"
        # The same text the response shows, so the log says why a load balancer took the app out.
        logger.warning("health check %s failed: %s", name, error, extra={"check": name, "error": error})
        return {"ok": False, "error": error}
    result: dict[str, Any] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if detail:
        result.update(detail)
    return result


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _cache() -> dict[str, Any]:
    cache.set("healthz", "ok", 10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("value written was not read back")
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _broker() -> dict[str, Any]:
    from investai.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        transport = conn.transport_cls
    beat = Heartbeat.objects.filter(name="beat").first()
    return {
        "transport": str(transport),
        "scheduler_last_seen": beat.seen_at.isoformat() if beat else None,
    }


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {name: _check(name, fn) for name, fn in (("database", _database), ("cache", _cache), ("broker", _broker))}
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ok else "failing", "checks": checks}, status=200 if ok else 503)
