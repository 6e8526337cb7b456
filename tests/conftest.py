import fcntl
import os
import tempfile
import uuid
from pathlib import Path

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


# The suite runs in two pytest-xdist workers (pytest.ini: -n 2). Tests that must not run beside
# each other share a group, which one worker runs in turn (``GroupScheduling``):
# - "media": every test with a real Janus, coturn or Chromium. They take fixed port ranges of their
#   own (Janus's RTP ports, coturn's relay ports, from the process id), and audio through a real
#   media server wants the CPU a second Chromium and Janus would take.
# - "broker-12": the two modules whose Celery workers use Redis database 12 and empty it.
# Every other module is a group of its own, so module-scoped fixtures are set up once. Groups go
# out in collection order, which ``OrderGroups`` makes: FIRST first, the media group (the longest)
# then the modules that mostly wait (the idle relay's minute, the slow media server), so that the
# other worker's waiting overlaps the media group's work rather than trailing behind it.
GROUPS = {
    "tests/e2e/": "media",
    "tests/test_janus_config.py": "media",
    "tests/test_deploy.py::test_turn_relays_to_this_server_and_refuses_private_networks": "media",
    "tests/test_slow_media_server.py": "broker-12",
    "tests/test_reminders_delivery.py": "broker-12",
}
FIRST = [
    "media",
    "tests/test_idle_relay.py",
    "tests/test_schema.py",
    "broker-12",
    "tests/test_celery_worker.py",
    "tests/faults/test_live_space.py",
    "tests/test_database_faults.py",
]


# Tests marked ``alone`` (see ``machine_share``) in modules this file does not otherwise touch: the
# captions worker fed speech in real time, from the test's own thread, hears other words when a
# second test process takes the CPU it needs to keep up.
ALONE = [
    "tests/test_captions.py::test_the_worker_captions_a_consenting_speaker_from_the_forwarded_mix",
]


def group_of(nodeid: str) -> str:
    for prefix, group in GROUPS.items():
        if nodeid.startswith(prefix):
            return group
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's own ``--dist loadgroup`` cannot group here: it renames each test's node id, which
    pytest 9 no longer lets a plugin do. This scheduler hands out the groups of ``group_of``
    instead, each whole to one worker, in collection order (``--no-loadscope-reorder``)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Mark the tests in ALONE ``alone``, before ``OrderGroups`` sorts by that mark."""
    for item in items:
        if item.nodeid in ALONE:
            item.add_marker(pytest.mark.alone)


class OrderGroups:
    """Puts the groups in FIRST first, after pytest-django has ordered the tests (its database
    tests before its transactional ones), whose order each group keeps except that tests marked
    ``alone`` go last in theirs: by then the other worker is likelier to be done, or on short
    tests, so that the wait for the machine (``machine_share``) is short."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        rank = {group: n for n, group in enumerate(FIRST)}
        items.sort(key=lambda item: (rank.get(group_of(item.nodeid), len(FIRST)), item.get_closest_marker("alone") is not None))


# Where a parallel run keeps the locks of ``machine_share`` (a folder, set in the environment).
MACHINE_LOCKS = "SPACES_TEST_MACHINE_LOCKS"


def pytest_configure(config):
    config.pluginmanager.register(OrderGroups(), "spaces-order-groups")
    # The controller of a parallel run makes the locks ``machine_share`` takes; the workers it
    # starts afterwards inherit their paths.
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        folder = tempfile.mkdtemp(prefix="spaces-tests-")
        os.environ[MACHINE_LOCKS] = folder
        config._spaces_machine_locks = folder


def pytest_unconfigure(config):
    folder = getattr(config, "_spaces_machine_locks", None)
    if folder:
        for name in ("machine", "gate"):
            Path(folder, name).unlink(missing_ok=True)
        os.rmdir(folder)
        os.environ.pop(MACHINE_LOCKS, None)


@pytest.fixture(autouse=True)
def machine_share(request):
    """In a parallel run, a test marked ``alone`` has the machine to itself: the other worker
    finishes its current test and waits. Those tests hold a real-time bound (a caption that must
    not come a second and a half after consent went, an unmute undone within 200 ms, speech
    recognised as it is fed) that a second test process busy on one of the two cores broke, not
    the code.

    Every other test holds a shared lock on ``machine`` for its run (fixtures included; this
    fixture is set up first and torn down last), a test marked ``alone`` an exclusive one. The
    ``gate`` lock, held while waiting for ``machine``, keeps a stream of short shared-lock tests
    from starving an exclusive one. Outside a parallel run, nothing is locked."""
    folder = os.environ.get(MACHINE_LOCKS)
    if not folder:
        yield
        return
    alone = request.node.get_closest_marker("alone") is not None
    with open(Path(folder, "gate"), "a") as gate, open(Path(folder, "machine"), "a") as machine:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(machine, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        fcntl.flock(gate, fcntl.LOCK_UN)
        yield
    # Closing the file released the lock.


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
