"""Operators use the Django admin: every model is there and its lists work."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from allocation.services.demo import demo_seed

pytestmark = pytest.mark.django_db


def test_every_domain_model_is_registered() -> None:
    missing = [
        m.__name__
        for m in apps.get_app_config("allocation").get_models()
        if m not in admin.site._registry and not m._meta.auto_created
    ]
    assert missing == []


def test_every_changelist_renders_with_search_and_filters(admin_client: Any) -> None:
    demo_seed(scale=1)
    for model in apps.get_app_config("allocation").get_models():
        model_admin = admin.site._registry.get(model)
        if model_admin is None:
            continue
        url = reverse(f"admin:allocation_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url
        if model_admin.search_fields:
            assert admin_client.get(url, {"q": "a"}).status_code == 200, url


def test_audit_events_cannot_be_edited_in_the_admin(admin_client: Any) -> None:
    response = admin_client.get(reverse("admin:allocation_auditevent_add"))
    assert response.status_code == 403
