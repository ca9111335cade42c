"""Bookings: who sees which, the list pages' filters, and the fixed-booking hot path's one-query read."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models import Q, QuerySet
from django.db.models.expressions import Col

from allocation import policies
from allocation.models import AllocationPeriod, Booking, ChipType, Gigafactory, Inventory, Membership, Tenant
from allocation.selectors.roles import tenants_of


def bookings_visible_to(*, user: Any) -> QuerySet[Booking]:
    """Operators see every booking (they cancel and report usage for any); members their tenants'."""
    qs = Booking.objects.select_related(
        "tenant", "inventory__gigafactory", "inventory__chip_type", "period", "created_by"
    )
    if policies.is_operator(user):
        return qs
    return qs.filter(tenant__in=tenants_of(user=user).values("pk"))


def bookings_filtered(
    bookings: QuerySet[Booking], *, status: str | None = None, site: Gigafactory | None = None, tenant_name: str = ""
) -> QuerySet[Booking]:
    """The list pages' filters. A site matches bookings placed there and pending ones that accept it."""
    if status:
        bookings = bookings.filter(status=status)
    if site:
        bookings = bookings.filter(
            Q(inventory__gigafactory=site) | Q(inventory__isnull=True, eligible__gigafactory=site)
        ).distinct()
    if tenant_name:
        bookings = bookings.filter(tenant__name__icontains=tenant_name)
    return bookings


def bookings_by_state(bookings: QuerySet[Booking]) -> dict[str, int]:
    """How many of these bookings are in each state, in one query."""
    counted = bookings.order_by().values_list("status").annotate(n=models.Count("pk", distinct=True))
    return dict(counted.values_list("status", "n"))


# --- The fixed-booking hot path -------------------------------------------
# Why raw SQL: every fixed booking needs the user's tenant, the resource (site and chip type) and
# the period; the ORM cannot LEFT JOIN unrelated tables from one FROM, so it would take three round
# trips (tests/api/test_booking_hot_path.py counts the one). What it relies on of the ORM's internals,
# which a Django upgrade must re-check: ``Model._meta.concrete_fields`` order and ``attname``/``column``
# for the SELECT list, ``connection.ops.get_db_converters`` and ``Field.get_db_converters`` with a
# ``django.db.models.expressions.Col`` to convert values as a queryset would, ``Model.from_db`` to
# build instances, and ``connection.ops.adapt_datetimefield_value`` for the moment's parameter.


@dataclass(frozen=True)
class FixedBookingRows:
    """What a fixed booking names, each None when it names nothing (or nothing the user may book for)."""

    tenant: Tenant | None
    inventory: Inventory | None
    period: AllocationPeriod | None


_Converter = Callable[[Any, Any, Any], Any]


@functools.cache
def _row_reader(
    model: type[models.Model],
    alias: str,
    vendor: str,
) -> tuple[list[str], list[tuple[Col, list[_Converter]]]]:
    """A model's columns for ``SELECT alias.col, ...`` and the converters the ORM would apply to each.

    Cached per model and backend: building it compiles nothing per request.
    """
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = [f"{alias}.{quote(f.attname if f.column is None else f.column)}" for f in fields]
    readers = []
    for field in fields:
        col = Col(alias, field)
        readers.append((col, [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]))
    return columns, readers


def _instance(model: type[models.Model], alias: str, values: tuple[Any, ...]) -> Any:
    """A model instance from its columns as ``_row_reader`` selected them; None for an unmatched LEFT JOIN."""
    if values[0] is None:  # the primary key: never NULL in a row that exists
        return None
    _, readers = _row_reader(model, alias, connection.vendor)
    converted = []
    for value, (col, converters) in zip(values, readers, strict=True):
        for convert in converters:
            value = convert(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in model._meta.concrete_fields], converted)


_FIXED_PARTS: list[tuple[type[models.Model], str]] = [
    (Tenant, "t"),
    (Inventory, "i"),
    (Gigafactory, "g"),
    (ChipType, "c"),
    (AllocationPeriod, "p"),
]


@functools.cache
def _fixed_booking_sql(vendor: str) -> str:
    table = {model: connection.ops.quote_name(model._meta.db_table) for model, _ in _FIXED_PARTS}
    membership = connection.ops.quote_name(Membership._meta.db_table)
    columns = [c for model, alias in _FIXED_PARTS for c in _row_reader(model, alias, vendor)[0]]
    return (
        f"SELECT {', '.join(columns)} FROM (SELECT 1 AS one) AS one "
        f"LEFT JOIN {table[Tenant]} t ON t.slug = %s "
        f"AND t.id IN (SELECT m.tenant_id FROM {membership} m WHERE m.user_id = %s) "
        f"LEFT JOIN {table[Gigafactory]} g ON g.slug = %s "
        f"LEFT JOIN {table[ChipType]} c ON c.slug = %s "
        f"LEFT JOIN {table[Inventory]} i ON i.gigafactory_id = g.id AND i.chip_type_id = c.id "
        f"LEFT JOIN {table[AllocationPeriod]} p ON p.id = (SELECT p2.id FROM {table[AllocationPeriod]} p2 "
        f"WHERE p2.starts_at <= %s AND p2.ends_at > %s ORDER BY p2.starts_at LIMIT 1)"
    )


def fixed_booking_rows(*, user: Any, tenant_slug: str, site: str, chip_type: str, at: datetime) -> FixedBookingRows:
    """The user's tenant of that slug, the resource ``site/chip_type`` (site and chip type joined) and the
    allocation period ``at`` falls in: one round trip instead of three, because every fixed booking asks.

    The tenant is found through the user's membership, so it carries ``member_user_id`` as
    ``TenantOfUserField``'s does (``policies.is_member_of`` takes the membership as proven).
    """
    moment = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        cursor.execute(_fixed_booking_sql(connection.vendor), [tenant_slug, user.pk, site, chip_type, moment, moment])
        row = cursor.fetchone()
    parts, offset = {}, 0
    for model, alias in _FIXED_PARTS:
        width = len(model._meta.concrete_fields)
        parts[alias] = _instance(model, alias, tuple(row[offset : offset + width]))
        offset += width
    tenant, inventory = parts["t"], parts["i"]
    if tenant is not None:
        tenant.member_user_id = user.pk
    if inventory is not None:
        inventory.gigafactory, inventory.chip_type = parts["g"], parts["c"]
    return FixedBookingRows(tenant=tenant, inventory=inventory, period=parts["p"])
