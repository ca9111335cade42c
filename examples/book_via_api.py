#!/usr/bin/env python3
"""Book chips through the InvestAI compute access API, with the standard library only.

    python examples/book_via_api.py --url http://127.0.0.1:8000 \\
        --username researcher --password investai-demo \\
        --resource lux/h100 --chips 8 --hours 4 --start 2027-01-08T00:00:00Z

1. log in for an API token (or pass --token);
2. read the resource's free chips per hour (GET /api/v1/availability/);
3. pick the first start where the chips are free for every hour;
4. book it (POST /api/v1/bookings/) with an Idempotency-Key, so a retry after
   a timeout can never book twice; if someone took the slot meanwhile (409
   capacity), try once more at the earliest start the API suggests;
5. print the booking.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_WINDOW_HOURS = 24 * 31  # the most the availability endpoint answers per call


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.error = body.get("error", {})
        super().__init__(f"HTTP {status}: {self.error.get('message', body)}")


def call(
    base: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Accept": "application/json",
            "Content-Type": "application/json",
            **({"Authorization": f"Token {token}"} if token else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ApiError(error.code, json.loads(error.read() or b"{}")) from None


def first_fit(slots: list[dict[str, Any]], *, chips: int, hours: int) -> str | None:
    """The first hour from which ``chips`` are free for ``hours`` hours in a row."""
    run = 0
    for i, slot in enumerate(slots):
        run = run + 1 if slot["free_chips"] >= chips else 0
        if run == hours:
            return slots[i - hours + 1]["hour"]
    return None


def book(args: argparse.Namespace) -> dict[str, Any]:
    token = args.token
    if not token:
        _, login = call(
            args.url, "POST", "/api/v1/auth/token/", body={"username": args.username, "password": args.password}
        )
        token = login["token"]

    window = min(MAX_WINDOW_HOURS, args.hours + args.search_hours)
    _, availability = call(
        args.url,
        "GET",
        "/api/v1/availability/",
        token=token,
        params={"resource": args.resource, "start": args.start, "hours": window},
    )
    start = first_fit(availability["slots"], chips=args.chips, hours=args.hours)
    if start is None:
        raise SystemExit(
            f"{args.resource} has no {args.chips} free chips for {args.hours} h "
            f"in the {window} hours from {availability['start']}."
        )

    for attempt in range(2):
        body = {"resource": args.resource, "starts_at": start, "hours": args.hours, "chips": args.chips}
        if args.tenant:
            body["tenant"] = args.tenant
        try:
            _, booking = call(
                args.url,
                "POST",
                "/api/v1/bookings/",
                token=token,
                body=body,
                headers={"Idempotency-Key": f"book-via-api-{uuid.uuid4()}"},
            )
            return booking
        except ApiError as refused:
            later = refused.error.get("earliest_start")
            if refused.status != 409 or refused.error.get("code") != "capacity" or not later or attempt:
                raise
            print(f"Someone took that slot; trying the earliest start that fits: {later}", file=sys.stderr)
            start = later
    raise AssertionError("unreachable")


def main(argv: list[str] | None = None) -> int:
    next_hour = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server (default %(default)s)")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--token", help="an API token instead of username and password")
    parser.add_argument("--tenant", help="tenant slug (needed only if you belong to several)")
    parser.add_argument("--resource", required=True, help='"site/chip_type", e.g. lux/h100')
    parser.add_argument("--chips", type=int, required=True)
    parser.add_argument("--hours", type=int, required=True)
    parser.add_argument(
        "--start",
        default=next_hour.isoformat().replace("+00:00", "Z"),
        help="look for a slot from this hour on (UTC; default: the next hour)",
    )
    parser.add_argument("--search-hours", type=int, default=7 * 24, help="how far to look ahead (default a week)")
    args = parser.parse_args(argv)
    if not args.token and not (args.username and args.password):
        parser.error("give --token, or --username and --password")
    try:
        booking = book(args)
    except ApiError as error:
        print(f"Refused: {error}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"Cannot reach {args.url}: {error.reason}", file=sys.stderr)
        return 1
    print(
        f"Booking {booking['id']} {booking['status']}: {booking['chips']} chips of {booking['resource']} "
        f"from {booking['starts_at']} to {booking['ends_at']} ({booking['cost_normalized_hours']:g} normalized "
        f"hours of {booking['tenant']}'s quota)"
    )
    print(json.dumps(booking, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
