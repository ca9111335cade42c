"""Celery tasks: thin, take ids, safe to run twice, call services."""

from __future__ import annotations

from celery import shared_task

from allocation.services import heartbeat


@shared_task(name="allocation.tasks.scheduler_heartbeat")
def scheduler_heartbeat(name: str = "beat") -> int:
    """Beat's pulse; ``/healthz`` shows when it last ran."""
    return heartbeat.heartbeat_record(name=name)


@shared_task(name="allocation.tasks.notifications_send")
def notifications_send(notification_ids: list[int]) -> int:
    """Mail these outbox rows; a second run finds them sent and mails no one."""
    from allocation.services.notifications import notifications_send as send

    return send(notification_ids=notification_ids)


@shared_task(name="allocation.tasks.notifications_requeue")
def notifications_requeue() -> int:
    """Beat's outbox relay: queue again the rows whose first enqueue was lost."""
    from allocation.services.notifications import notifications_requeue as requeue

    return requeue()


@shared_task(name="allocation.tasks.round_compute")
def round_compute(round_id: int) -> int:
    """Run the engine for a preview round; a second run finds it computed."""
    from allocation.services.rounds import round_compute as compute

    return compute(round_id=round_id).pk


@shared_task(name="allocation.tasks.round_commit")
def round_commit(round_id: int, actor_id: int) -> str:
    """Commit a round's grants; a re-run after a crash commits them once."""
    from django.contrib.auth import get_user_model

    from allocation.models import AllocationRound
    from allocation.services.errors import ServiceError
    from allocation.services.rounds import round_commit as commit

    actor = get_user_model().objects.get(pk=actor_id)
    try:
        return commit(actor=actor, round_id=round_id).status
    except ServiceError as exc:
        # Refused, not crashed: record why for the committee and do not retry.
        AllocationRound.objects.filter(pk=round_id).update(failure=exc.message)
        return "refused"


@shared_task(name="allocation.tasks.booking_round")
def booking_round() -> int:
    """Beat's entry: one shard task per connected group of resources, as a Celery group.

    More workers on more machines place the shards in parallel.
    """
    from celery import group

    from allocation.services.booking_round import booking_round_shards

    shards = booking_round_shards()
    if shards:
        group(booking_round_shard.s(shard) for shard in shards).apply_async()
    return len(shards)


@shared_task(name="allocation.tasks.booking_round_shard")
def booking_round_shard(inventory_ids: list[int]) -> dict[str, object]:
    from allocation.services.booking_round import booking_round_run

    return booking_round_run(inventory_ids=inventory_ids)


@shared_task(name="allocation.tasks.bookings_advance")
def bookings_advance() -> dict[str, int]:
    """Start, finish and expire bookings as the clock passes their times."""
    from allocation.services.bookings import bookings_advance as advance

    return advance()
