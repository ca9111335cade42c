"""Shared fixtures: the people who use the platform, as named personas.

- alice: researcher, member of Aurora Lab (public pool)
- bob: PI of Aurora Lab
- mallory: PI of Nimbus AI, another tenant; the one who must never see Aurora's data
- carol: allocation committee member
- oscar: site operator
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls
# our fixtures make there are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing(request: pytest.FixtureRequest) -> None:
    # PBKDF2's deliberate slowness costs a second per persona on a busy CI box.
    if not request.config.pluginmanager.has_plugin("django"):
        return  # the pure engine tests run without Django at all
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Celery runs tasks inline (in the live server's thread too); the previous setting comes back after.

    Use it with ``pytestmark = [..., pytest.mark.usefixtures("eager_celery")]``.
    """
    from investai.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def catalogue(db: Any) -> Any:
    from tests.factories import Catalogue

    return Catalogue.create()


@pytest.fixture
def aurora(catalogue: Any) -> Any:
    from tests.factories import TenantFactory

    return TenantFactory(name="Aurora Lab", slug="aurora-lab", kind="researcher", pool=catalogue.public_pool)


@pytest.fixture
def nimbus(catalogue: Any) -> Any:
    from tests.factories import TenantFactory

    return TenantFactory(name="Nimbus AI", slug="nimbus-ai", kind="startup", pool=catalogue.public_pool)


@pytest.fixture
def alice(aurora: Any) -> Any:
    from tests.factories import member

    return member("alice", aurora, role="member")


@pytest.fixture
def bob(aurora: Any) -> Any:
    from tests.factories import member

    return member("bob", aurora, role="pi")


@pytest.fixture
def mallory(nimbus: Any) -> Any:
    from tests.factories import member

    return member("mallory", nimbus, role="pi")


@pytest.fixture
def carol(db: Any) -> Any:
    from tests.factories import with_role

    return with_role("carol", "committee")


@pytest.fixture
def oscar(db: Any) -> Any:
    from tests.factories import with_role

    return with_role("oscar", "operator")


@pytest.fixture
def funded(catalogue: Any, aurora: Any, nimbus: Any, carol: Any) -> Any:
    """The catalogue, with grants of 10,000 normalized hours on each resource for Aurora Lab and Nimbus AI."""
    from tests.factories import grant

    for inventory in (catalogue.muc_h100, catalogue.muc_b200, catalogue.lux_h100):
        grant(catalogue, aurora, carol, 10_000, inventory)
        grant(catalogue, nimbus, carol, 10_000, inventory)
    return catalogue


@pytest.fixture(autouse=True)
def _default_language_afterwards() -> Iterator[None]:
    """Each test starts in the default language.

    The test client leaves the language of a German request active in the thread, and the
    e-mails services write are worded in the active language: without this, a test that
    checks an English subject would fail or pass depending on which test ran before it.
    """
    yield
    from django.utils import translation

    translation.deactivate()
