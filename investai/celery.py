"""The Celery app.

Invariants: configuration comes only from Django settings (``CELERY_*``),
which come from the environment; tasks are discovered in installed apps.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "investai.settings")

app = Celery("investai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
