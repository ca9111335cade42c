"""The Celery app.

Invariants: configuration comes only from Django settings (``CELERY_*``),
which come from the environment; tasks are discovered in installed apps.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "investai.settings")

app = Celery("investai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def _announce_beat(sender: object, **kwargs: object) -> None:
    # Without this /healthz shows no scheduler until the first interval passes.
    app.send_task("allocation.tasks.scheduler_heartbeat", args=["beat"])
