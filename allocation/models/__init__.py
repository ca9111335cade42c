"""The domain model; one module per part of the vocabulary in docs/vocabulary.md."""

from __future__ import annotations

from allocation.models.audit import AuditEvent
from allocation.models.bookings import PLACED_STATUSES, Booking, BookingKind, BookingStatus, UsageRecord
from allocation.models.heartbeat import Heartbeat
from allocation.models.idempotency import IdempotencyKey
from allocation.models.ledger import QuotaBalance, ResourceHour
from allocation.models.notifications import Notification
from allocation.models.partners import Contribution, Partner, PartnerKind, Pool, Tranche
from allocation.models.periods import (
    AllocationPeriod,
    AllocationRequest,
    AllocationRound,
    PeriodStatus,
    Quota,
    RequestStatus,
    RoundStatus,
)
from allocation.models.sites import (
    ChipType,
    Gigafactory,
    GigafactoryKind,
    GigafactoryStatus,
    Inventory,
    MaintenanceWindow,
)
from allocation.models.tenants import (
    GlobalRole,
    MemberRole,
    Membership,
    NotificationSettings,
    RoleKind,
    Tenant,
    TenantKind,
    Verification,
)

__all__ = [
    "PLACED_STATUSES",
    "AllocationPeriod",
    "AllocationRequest",
    "AllocationRound",
    "AuditEvent",
    "Booking",
    "BookingKind",
    "BookingStatus",
    "ChipType",
    "Contribution",
    "Gigafactory",
    "GigafactoryKind",
    "GigafactoryStatus",
    "GlobalRole",
    "Heartbeat",
    "IdempotencyKey",
    "Inventory",
    "MaintenanceWindow",
    "MemberRole",
    "Membership",
    "Notification",
    "NotificationSettings",
    "Partner",
    "PartnerKind",
    "PeriodStatus",
    "Pool",
    "Quota",
    "QuotaBalance",
    "RequestStatus",
    "ResourceHour",
    "RoleKind",
    "RoundStatus",
    "Tenant",
    "TenantKind",
    "Tranche",
    "UsageRecord",
    "Verification",
]
