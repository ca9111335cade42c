"""Benchmark bookings through the real HTTP stack, and the booking round, on PostgreSQL.

Usage: ``.venv/bin/python benchmarks/bookings.py [--scale 10] [--clients 32] [--seconds 5] [--rounds 3]
[--warm-up 3] [--round-bookings 10000] [--skip-round] [--postgres postgres://postgres@127.0.0.1:5432]``

What it does, in under three minutes:
1. creates a throwaway database, migrates it and seeds it with
   ``manage.py seed_demo --scale N`` (200 x N tenants), then commits a quota
   round so the tenants it uses can book;
2. starts gunicorn on 127.0.0.1 (gthread workers, DEBUG off) and drives it
   with ``--clients`` concurrent clients, each a thread with its own
   keep-alive connection, its own tenant and token. After a warm-up (one
   second of the trivial endpoint, ``--warm-up`` seconds of bookings, in which
   the first booking of each resource creates the period's ledger rows, a
   cost paid once per resource and period), ``--rounds`` rounds each run the
   trivial authenticated ``GET /api/v1/me/`` and then ``POST /api/v1/bookings/``
   of fixed bookings on distinct slots (no two clients touch the same
   resource-hour) for ``--seconds`` each; alternating the two spreads load from
   elsewhere on the machine over both. It prints each round's requests/s and
   confirmed bookings/s and their ratio, and the median ratio (target:
   booking >= 0.5 x trivial);
3. checks that nothing is overbooked: every ``ResourceHour`` has
   ``booked <= capacity`` and ``booked`` equals the chips of the confirmed
   bookings in that hour; every quota balance equals the bookings' costs;
4. times the booking round on that data: ``--round-bookings`` pending
   flexible bookings (inserted in bulk, spread over the demo resources and
   two weeks, contended), every shard run in-process, ``--round-parallel``
   at a time in threads with their own connections, as a Celery group on
   that many workers would (``--skip-round`` leaves this out, to iterate on
   the HTTP figures alone);
5. stops gunicorn and drops the database, also on failure or Ctrl-C.

Invariants: the benchmark touches only the database it created (its name
carries the process id) and the processes it started; Celery messages of the
round go to an in-memory broker, so no queue or mailbox outside is touched.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
TARGET_RATIO = 0.5


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin_sql(postgres: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as conn:
        conn.execute(statement)


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


# --- Data the load needs ------------------------------------------------------


def grant_quotas(tenants: list[Any], normalized_hours: float) -> Any:
    """One committed round of the demo period granting each tenant ``normalized_hours`` on every resource
    (grants are spent only where they were granted; its demo request pays)."""
    from django.contrib.auth import get_user_model

    from allocation.models import AllocationPeriod, AllocationRequest, AllocationRound, Inventory, Quota, RoundStatus

    period = AllocationPeriod.objects.order_by("starts_at").first()
    admin = get_user_model().objects.get(username="admin")
    round_, _ = AllocationRound.objects.get_or_create(
        period=period, status=RoundStatus.COMMITTED, defaults={"created_by": admin}
    )
    request_of = dict(
        AllocationRequest.objects.filter(period=period, tenant__in=tenants).values_list("tenant_id", "id")
    )
    inventories = list(Inventory.objects.select_related("chip_type").order_by("pk"))
    Quota.objects.bulk_create(
        [
            Quota(
                round=round_,
                period=period,
                tenant=t,
                request_id=request_of[t.pk],
                inventory=inventory,
                gpu_hours=normalized_hours / inventory.chip_type.throughput,
                normalized_hours=normalized_hours,
            )
            for t in tenants
            for inventory in inventories
        ],
        batch_size=5000,
    )
    return period


def load_clients(clients: int) -> list[dict[str, Any]]:
    """A tenant, its PI's token and a resource per client."""
    from rest_framework.authtoken.models import Token

    from allocation.models import Inventory, Membership, Tenant

    # Only verified tenants book (the demo leaves every tenth one pending).
    tenants = list(Tenant.objects.filter(verification="verified").order_by("pk")[:clients])
    pis = {m.tenant_id: m.user for m in Membership.objects.filter(tenant__in=tenants, role="pi").select_related("user")}
    resources = [
        f"{inv.gigafactory.slug}/{inv.chip_type.slug}"
        for inv in Inventory.objects.select_related("gigafactory", "chip_type").order_by("pk")
    ]
    return [
        {
            "tenant": t,
            "token": Token.objects.get_or_create(user=pis[t.pk])[0].key,
            "resource": resources[i % len(resources)],
            "lane": i // len(resources),
            "lanes": -(-clients // len(resources)),
        }
        for i, t in enumerate(tenants)
    ]


# --- Load -----------------------------------------------------------------------


def drive(port: int, clients: list[dict[str, Any]], seconds: float, make: Any) -> dict[str, Any]:
    """Each client sends ``make(client, n)`` requests back to back on its own connection for ``seconds``."""
    barrier = threading.Barrier(len(clients) + 1)
    statuses: list[Counter[int]] = [Counter() for _ in clients]
    latencies: list[list[float]] = [[] for _ in clients]
    stop = threading.Event()

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        client = clients[i]
        barrier.wait()
        n = 0
        while not stop.is_set():
            method, path, body, headers = make(client, n)
            began = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                statuses[i][response.status] += 1
            except (OSError, http.client.HTTPException):
                statuses[i][0] += 1  # a dropped connection: counted, then reconnect
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            latencies[i].append(time.perf_counter() - began)
            n += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=90)
    elapsed = time.perf_counter() - began
    total: Counter[int] = sum(statuses, Counter())
    flat = sorted(x for per in latencies for x in per)
    return {
        "requests": sum(total.values()),
        "statuses": dict(total),
        "seconds": elapsed,
        "per_second": sum(total.values()) / elapsed,
        "p50_ms": 1000 * flat[len(flat) // 2] if flat else 0.0,
        "p99_ms": 1000 * flat[int(len(flat) * 0.99)] if flat else 0.0,
    }


def trivial_request(client: dict[str, Any], n: int) -> tuple[str, str, None, dict[str, str]]:
    return "GET", "/api/v1/me/", None, {"Authorization": f"Token {client['token']}"}


def booking_request_maker(period_start: datetime, chips: int) -> Any:
    def make(client: dict[str, Any], n: int) -> tuple[str, str, bytes, dict[str, str]]:
        # Client lanes share a resource but never an hour: hour k * lanes + lane, where k counts the
        # client's bookings over every phase (``n`` restarts with each phase), so no slot is booked twice.
        k = client["booked"] = client.get("booked", -1) + 1
        hour = period_start + timedelta(hours=k * client["lanes"] + client["lane"])
        body = {
            "tenant": client["tenant"].slug,
            "resource": client["resource"],
            "starts_at": hour.isoformat(),
            "hours": 1,
            "chips": chips,
        }
        return (
            "POST",
            "/api/v1/bookings/",
            json.dumps(body).encode(),
            {
                "Authorization": f"Token {client['token']}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"bench-{client['tenant'].pk}-{k}",
            },
        )

    return make


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# --- Checks and the round ------------------------------------------------------


def overbooking_report() -> dict[str, int]:
    """Rows over capacity, rows whose ``booked`` differs from the bookings, balances off their costs."""
    from django.db.models import F, Sum

    from allocation.models import Booking, BookingStatus, QuotaBalance, ResourceHour

    held: dict[tuple[int, datetime], int] = defaultdict(int)
    for inventory_id, start, hours, chips in Booking.objects.filter(status=BookingStatus.CONFIRMED).values_list(
        "inventory_id", "starts_at", "hours", "chips"
    ):
        assert start is not None  # confirmed bookings always have a start (a CHECK says so)
        for h in range(hours):
            held[(inventory_id, start + timedelta(hours=h))] += chips
    over = ResourceHour.objects.filter(booked__gt=F("capacity")).count()
    rows = {(i, h): b for i, h, b in ResourceHour.objects.values_list("inventory_id", "hour", "booked")}
    mismatched = sum(1 for key in set(rows) | set(held) if rows.get(key, 0) != held.get(key, 0))
    confirmed = Booking.objects.filter(status=BookingStatus.CONFIRMED)
    costs = {
        (t, i): s
        for t, i, s in confirmed.order_by()
        .values("tenant_id", "inventory_id")
        .annotate(s=Sum("cost_normalized_hours"))
        .values_list("tenant_id", "inventory_id", "s")
    }
    off = sum(
        1
        for b in QuotaBalance.objects.all()
        if abs(b.used - costs.get((b.tenant_id, b.inventory_id), 0.0)) > 1e-6 or b.used > b.granted + 1e-6
    )
    return {
        "hours_over_capacity": over,
        "hours_not_matching_bookings": mismatched,
        "balances_off": off,
        "confirmed": sum(1 for _ in costs) and Booking.objects.filter(status=BookingStatus.CONFIRMED).count(),
        "hour_rows": len(rows),
    }


def seed_flexible(count: int, period: Any, *, funded: set[int]) -> None:
    """``count`` pending flexible bookings of demo tenants, contended over the period's first two weeks."""
    from allocation.models import Booking, BookingKind, BookingStatus, Inventory, Membership, Tenant

    rng = random.Random(7)
    inventory = list(Inventory.objects.select_related("chip_type").order_by("pk"))
    same_chip: dict[int, list[Any]] = defaultdict(list)
    for inv in inventory:
        same_chip[inv.chip_type_id].append(inv)
    tenants = list(Tenant.objects.order_by("pk")[:1000])
    grant_quotas([t for t in tenants if t.pk not in funded], 5e6)
    pis = dict(Membership.objects.filter(tenant__in=tenants, role="pi").values_list("tenant_id", "user_id"))
    rows, eligible = [], []
    for _ in range(count):
        tenant = rng.choice(tenants)
        home = rng.choice(inventory)
        others = [i for i in same_chip[home.chip_type_id] if i != home]
        accepts = [home, *rng.sample(others, k=min(rng.choice((0, 0, 1, 2)), len(others)))]
        hours = rng.choice((4, 8, 12, 24, 48, 72))
        earliest = period.starts_at + timedelta(hours=rng.randrange(0, 14 * 24))
        rows.append(
            Booking(
                tenant=tenant,
                created_by_id=pis[tenant.pk],
                kind=BookingKind.FLEXIBLE,
                status=BookingStatus.PENDING,
                chips=max(1, int(home.chips_in_service * rng.uniform(0.005, 0.08))),
                hours=hours,
                earliest_start=earliest,
                latest_end=earliest + timedelta(hours=hours + rng.randrange(0, 7 * 24)),
            )
        )
        eligible.append(accepts)
    created = Booking.objects.bulk_create(rows, batch_size=2000)
    through = Booking.eligible.through
    through.objects.bulk_create(
        [
            through(booking_id=b.pk, inventory_id=inv.pk)
            for b, accepts in zip(created, eligible, strict=True)
            for inv in accepts
        ],
        batch_size=5000,
    )


def time_decision(period: Any) -> float:
    """Seconds to snapshot every shard and run the engine on it, writing nothing (the round's read half)."""
    from allocation import fairshare
    from allocation.services.booking_round import _engine_input, booking_round_shards

    began = time.perf_counter()
    for shard in booking_round_shards(now=period.starts_at):
        fairshare.place_bookings(_engine_input(shard, period, period.starts_at, period.ends_at)[0])
    return time.perf_counter() - began


def time_round(period: Any, parallel: int) -> dict[str, Any]:
    """Every shard of the round, ``parallel`` at a time in threads (as a Celery group on that many workers)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from allocation.services.booking_round import booking_round_run, booking_round_shards

    # The round takes the quota of the period its horizon starts in: start it with the period.
    now = period.starts_at
    began = time.perf_counter()
    shards = booking_round_shards(now=now)

    def run(shard: list[int]) -> dict[str, Any]:
        try:
            return booking_round_run(inventory_ids=shard, now=now)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        outcomes = list(pool.map(run, shards))
    totals: Counter[str] = Counter()
    bookings = 0
    for outcome in outcomes:
        bookings += outcome["bookings"]
        totals["placed"] += outcome["placed"]
        totals.update(outcome["unplaced"])
    return {
        "shards": len(shards),
        "bookings": bookings,
        "placed": totals.pop("placed", 0),
        "unplaced": dict(totals),
        "seconds": time.perf_counter() - began,
    }


# --- Main -------------------------------------------------------------------------


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "investai.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--backlog",
            "2048",
            "--keep-alive",
            "5",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/me/")
            if conn.getresponse().status in (401, 403):
                return process
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 30 s")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the group this benchmark started, and only it
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0, help="per load phase")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two phases; the median counts")
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds of bookings before measuring")
    parser.add_argument("--chips", type=int, default=8, help="chips per fixed booking")
    parser.add_argument("--round-bookings", type=int, default=10_000)
    parser.add_argument("--round-parallel", type=int, default=8, help="shards run at once (threads)")
    parser.add_argument("--skip-round", action="store_true", help="only the HTTP load and its overbooking check")
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    args = parser.parse_args()

    started = time.perf_counter()
    database = f"investai_bench_{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.postgres}/{database}",
        "DEBUG": "0",
        "REDIS_URL": "",
        "SECRET_KEY": "benchmark-only-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "ERROR",
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    server: subprocess.Popen[bytes] | None = None
    admin_sql(args.postgres, f'CREATE DATABASE "{database}"')
    try:
        log(f"Database {database}: migrate, seed_demo --scale {args.scale} ...")
        manage(env, "migrate", "--noinput", "-v", "0")
        t0 = time.perf_counter()
        manage(env, "seed_demo", "--scale", str(args.scale), "-v", "0")
        seeded = time.perf_counter() - t0

        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "investai.settings")
        import django

        django.setup()
        from investai.celery import app as celery_app

        celery_app.conf.broker_url = "memory://"  # the round's e-mails go nowhere
        from allocation.models import Gigafactory, Inventory, Tenant

        clients = load_clients(args.clients)
        period = grant_quotas([c["tenant"] for c in clients], 1e7)
        log(
            f"Scale {args.scale}: {Tenant.objects.count():,} tenants, {Gigafactory.objects.count()} sites, "
            f"{Inventory.objects.count()} resources (seeded in {seeded:.1f} s); period {period.slug}; "
            f"{len(clients)} clients; gunicorn {args.workers} workers x {args.threads} threads "
            f"on {os.cpu_count()} CPUs"
        )

        port = free_port()
        server = start_gunicorn(env, port, args.workers, args.threads)
        make_booking = booking_request_maker(period.starts_at, args.chips)
        # Warm-up, not counted: imports and connections; and the ledger rows of the period, which
        # the first booking of each resource creates (once per resource and period, 2,160 rows).
        drive(port, clients, 1.0, trivial_request)
        warm = drive(port, clients, args.warm_up, make_booking)
        log(
            f"Warm-up: {warm['statuses'].get(201, 0):,} bookings in {warm['seconds']:.1f} s, creating the "
            f"ledger rows of {len({c['resource'] for c in clients})} resources for the period"
        )
        # The phases alternate, so that load from elsewhere on the machine weighs on both alike;
        # the figure is the median of the rounds' ratios.
        ratios: list[float] = []
        failed = Counter({code: count for code, count in warm["statuses"].items() if code != 201})
        for n in range(1, args.rounds + 1):
            trivial = drive(port, clients, args.seconds, trivial_request)
            booking = drive(port, clients, args.seconds, make_booking)
            confirmed = booking["statuses"].get(201, 0) / booking["seconds"]
            ratio = confirmed / trivial["per_second"] if trivial["per_second"] else 0.0
            ratios.append(ratio)
            failed.update({code: count for code, count in booking["statuses"].items() if code != 201})
            log(
                f"Round {n}/{args.rounds}: GET /api/v1/me/ {trivial['per_second']:6.1f} requests/s "
                f"(p50 {trivial['p50_ms']:.0f} ms, p99 {trivial['p99_ms']:.0f} ms); POST /api/v1/bookings/ "
                f"{confirmed:6.1f} confirmed/s (p50 {booking['p50_ms']:.0f} ms, p99 {booking['p99_ms']:.0f} ms; "
                f"statuses {booking['statuses']}); ratio {ratio:.2f}"
            )
        stop(server)
        server = None

        ratio = median(ratios)
        log(
            f"Confirmed fixed bookings / GET /api/v1/me/: median ratio {ratio:.2f} over {args.rounds} rounds of "
            f"{args.seconds:g} s per phase (rounds {', '.join(f'{r:.2f}' for r in ratios)}; target >= "
            f"{TARGET_RATIO}: {'PASS' if ratio >= TARGET_RATIO else 'FAIL'}); load average "
            f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        check = overbooking_report()
        clean = not (check["hours_over_capacity"] or check["hours_not_matching_bookings"] or check["balances_off"])
        log(
            f"Overbooking check: {check['confirmed']:,} confirmed bookings over {check['hour_rows']:,} resource-hours;"
            f" {check['hours_over_capacity']} over capacity, {check['hours_not_matching_bookings']} not matching "
            f"the bookings, {check['balances_off']} quota balances off: {'OK' if clean else 'FAIL'}"
        )

        if args.skip_round:
            log(f"Booking round skipped. Total {time.perf_counter() - started:.0f} s")
            return 0 if clean and not failed else 1
        t0 = time.perf_counter()
        seed_flexible(args.round_bookings, period, funded={c["tenant"].pk for c in clients})
        log(
            f"Booking round: {args.round_bookings:,} pending flexible bookings seeded in "
            f"{time.perf_counter() - t0:.1f} s"
        )
        decision = time_decision(period)
        result = time_round(period, args.round_parallel)
        log(
            f"Booking round: {result['bookings']:,} bookings in {result['shards']} shards "
            f"({args.round_parallel} at a time), {result['placed']:,} "
            f"placed, unplaced {result['unplaced']}, {result['seconds']:.1f} s "
            f"({result['placed'] / result['seconds']:.0f} placements/s); of which deciding (snapshot + engine, "
            f"read-only, all shards one after another) takes {decision:.1f} s, the rest is writing placements"
        )
        check = overbooking_report()
        clean_after = not (
            check["hours_over_capacity"] or check["hours_not_matching_bookings"] or check["balances_off"]
        )
        log(
            f"Overbooking check after the round: {check['confirmed']:,} confirmed, "
            f"{check['hours_over_capacity']} over capacity, {check['hours_not_matching_bookings']} not matching, "
            f"{check['balances_off']} balances off: {'OK' if clean_after else 'FAIL'}"
        )
        log(f"Total {time.perf_counter() - started:.0f} s")
        return 0 if clean and clean_after and not failed else 1
    finally:
        stop(server)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not be set up yet
            pass
        admin_sql(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        log(f"Dropped {database}.")


if __name__ == "__main__":
    sys.exit(main())
