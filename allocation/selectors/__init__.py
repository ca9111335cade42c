"""Reads. Every query a page, an endpoint or a task needs goes through here, one module per concept.

Invariants: nothing here writes; list selectors return querysets with the
relations a caller shows already joined, so list pages run a bounded number
of queries whatever their length. ``from allocation import selectors; selectors.x``
keeps working: this module re-exports every public name.
"""

from allocation.selectors.audit import (
    audit_visible_to,
)
from allocation.selectors.bookings import (
    FixedBookingRows,
    bookings_by_state,
    bookings_filtered,
    bookings_visible_to,
    fixed_booking_rows,
)
from allocation.selectors.fair_share import (
    fair_share_by_tenant,
    fair_share_exponents_by_tenant,
    fair_share_of,
    pool_weights,
)
from allocation.selectors.grants import (
    GrantRow,
    grants_in_force,
    grants_of,
    grants_visible_to,
    quota_in_force,
    quota_remaining,
    quota_summary,
    quotas_visible_to,
)
from allocation.selectors.health import (
    WorkerPulse,
    worker_pulse,
)
from allocation.selectors.ledger import (
    capacity_and_held,
    capacity_by_hour,
    earliest_fit,
    free_chips,
    period_at,
)
from allocation.selectors.requests import (
    demand_against_capacity,
    requests_visible_to,
    review_queue,
)
from allocation.selectors.roles import (
    global_roles,
    memberships_of,
    tenants_of,
)
from allocation.selectors.rounds import (
    AllocationSnapshot,
    allocation_snapshot,
    rounds_visible_to,
)
from allocation.selectors.sites import (
    capacity_totals,
    period_capacity,
    resources_matching,
    sites_with_inventory,
)
from allocation.selectors.timeline import (
    ResourceTimeline,
    resource_timeline,
)
from allocation.selectors.usage import (
    usage_visible_to,
)

__all__ = [
    "AllocationSnapshot",
    "FixedBookingRows",
    "GrantRow",
    "ResourceTimeline",
    "WorkerPulse",
    "allocation_snapshot",
    "audit_visible_to",
    "bookings_by_state",
    "bookings_filtered",
    "bookings_visible_to",
    "capacity_and_held",
    "capacity_by_hour",
    "capacity_totals",
    "demand_against_capacity",
    "earliest_fit",
    "fair_share_by_tenant",
    "fair_share_exponents_by_tenant",
    "fair_share_of",
    "fixed_booking_rows",
    "free_chips",
    "global_roles",
    "grants_in_force",
    "grants_of",
    "grants_visible_to",
    "memberships_of",
    "period_at",
    "period_capacity",
    "pool_weights",
    "quota_in_force",
    "quota_remaining",
    "quota_summary",
    "quotas_visible_to",
    "requests_visible_to",
    "resource_timeline",
    "resources_matching",
    "review_queue",
    "rounds_visible_to",
    "sites_with_inventory",
    "tenants_of",
    "usage_visible_to",
    "worker_pulse",
]
