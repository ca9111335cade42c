"""The InvestAI compute-access project: settings, URLs and the Celery app."""

from __future__ import annotations

from investai.celery import app as celery_app

__all__ = ["celery_app"]
