import os
import uuid

import pytest
from rest_framework.test import APIClient

from rooms import publisher, services

from .factories import UserFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip when a service this test needs is missing locally; in CI, fail instead."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required service missing in CI: {reason}")
        pytest.skip(reason)


_skipped = []


def pytest_runtest_logreport(report):
    # An expected failure (xfail) is reported as skipped too; it is a known gap, not a missing service.
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if IN_CI and _skipped and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nCI: {len(_skipped)} test(s) skipped, which CI counts as failures: {_skipped}")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def media_server(settings):
    """The in-memory media server, reset for each test; media tasks run at once, in the test's
    thread (Celery's eager mode), so a test sees what a service made the media server do. Tests
    with a real Janus and real workers (tests/e2e) set their own."""
    from rooms.media.fake import FakeMediaServer
    from spaces.celery import app

    settings.SPACES_MEDIA_SERVER = "rooms.media.fake.FakeMediaServer"
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    FakeMediaServer.reset()
    yield FakeMediaServer
    FakeMediaServer.reset()
    app.conf.task_always_eager = eager


@pytest.fixture(autouse=True)
def isolated_channel_layer(settings):
    """Each test gets its own channel-layer prefix on the real Redis, and its own cache prefix."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "prefix": prefix},
        }
    }
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    publisher.close_publisher()
    channel_layers.backends.clear()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def host(db):
    return UserFactory(username="host")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def client_for():
    def make(user=None):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def live_space(host):
    return services.space_create(host=host, title="Morning show")
