"""Signed-out listeners live in Redis (rooms/guests.py): listening costs no database write and no
lock on the Space; counts, names and blocks still hold, under concurrency too."""

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db.backends.utils import CursorWrapper

from rooms import arrivals, batches, errors, guests, identity, presence, selectors, services
from rooms.identity import Visitor
from rooms.models import Participant
from spaces.asgi import application

from .test_realtime import ORIGIN, connect, start_space, wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]


class QueryCounter:
    """Counts SQL statements run by any thread of this process (the websocket consumer's database
    work runs in a worker thread, out of reach of a per-connection capture)."""

    def __init__(self):
        self.statements: list[str] = []
        self.lock = threading.Lock()

    def __enter__(self):
        original, counter = CursorWrapper.execute, self

        def execute(cursor, sql, params=None):
            with counter.lock:
                counter.statements.append(sql)
            return original(cursor, sql, params)

        self.original, CursorWrapper.execute = original, execute
        return self

    def __exit__(self, *exc):
        CursorWrapper.execute = self.original


class ThreadHops:
    """Records the functions this process runs in a worker thread from its event loop
    (``sync_to_async``, ``database_sync_to_async``) meanwhile."""

    def __init__(self):
        self.funcs: list = []

    def __enter__(self):
        original, hops = SyncToAsync.__call__, self

        async def call(this, *args, **kwargs):
            hops.funcs.append(this.func)
            return await original(this, *args, **kwargs)

        self.original, SyncToAsync.__call__ = original, call
        return self

    def __exit__(self, *exc):
        SyncToAsync.__call__ = self.original

    def names(self) -> list[str]:
        """What ran in a thread, but for this test module's own look-ups."""
        return [f"{f.__module__}.{f.__qualname__}" for f in self.funcs if f.__module__ != __name__]


def ticket_url(space, anon_id: str) -> str:
    ticket = identity.ws_ticket(Visitor.anonymous(anon_id, f"Listener {anon_id[-4:]}"))
    return f"/ws/spaces/{space.code}/?ticket={ticket}"


@pytest.mark.asyncio
async def test_a_crowd_of_signed_out_listeners_arrives_and_listens_without_a_single_sql_statement():
    host, space = await start_space()
    host_ws = await connect(space, host)
    # One arrival warms this process's caches (the Space by code, the watcher's snapshot).
    first = WebsocketCommunicator(application, ticket_url(space, "warm-0000"), headers=[ORIGIN])
    await first.connect(timeout=5)
    await first.receive_json_from(timeout=5)
    crowd = []
    with QueryCounter() as counter:
        # Nor a thread hop: no user to look up without a session cookie, no stale database
        # connection to close before each message when the message needs no database.
        with ThreadHops() as hops:
            for n in range(20):
                ws = WebsocketCommunicator(application, ticket_url(space, f"crowd-{n:04}"), headers=[ORIGIN])
                assert (await ws.connect(timeout=5))[0]
                snapshot = await ws.receive_json_from(timeout=5)
                assert snapshot["type"] == "snapshot" and snapshot["data"]["me"] is None  # watching
                await ws.send_json_to({"type": "listening"})
                crowd.append(ws)
            await ws.send_json_to({"type": "ping"})
            assert (await ws.receive_json_from(timeout=5))["type"] == "pong"  # its listening is handled
        assert await wait_until(lambda: guests.count(space.pk) == 20)
    assert counter.statements == []
    assert hops.names() == []
    # The host hears of them in batches: one seq a second, all 20 counted, the newest named.
    counted = 0
    while counted < 20:
        batch = await host_ws.frame_of("participant.batch", timeout=5)
        counted = batch["data"]["count"]
    assert await sync_to_async(selectors.listener_count)(space=space) == 20
    assert await sync_to_async(Participant.objects.filter(space=space).count)() == 1  # the host
    for ws in [first, *crowd]:
        await ws.disconnect()
    await host_ws.close()


def test_concurrent_joins_count_each_signed_out_listener_once(live_space):
    people = [Visitor.anonymous(f"same-{n % 25}", f"Listener {n % 25}") for n in range(100)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda visitor: services.space_join(space=live_space, visitor=visitor), people))
    assert guests.count(live_space.pk) == 25
    assert selectors.listener_count(space=live_space) == 25
    flushed = batches.flush_batch(live_space.pk)
    assert flushed["data"]["joined_count"] == 25 and flushed["data"]["count"] == 25
    live_space.refresh_from_db()
    assert live_space.peak_listeners == 25
    ended = services.space_end(space=live_space, actor=live_space.host)
    assert (ended.unique_listeners, ended.peak_listeners) == (25, 25)
    assert guests.count(live_space.pk) == 0  # nothing left behind in Redis


def test_counts_published_for_signed_in_people_include_the_signed_out_listeners(live_space):
    from rooms import publisher

    from .factories import UserFactory

    for n in range(3):
        services.space_join(space=live_space, visitor=Visitor.anonymous(f"quietly-{n}", f"Listener {n}"))
    with publisher.capture() as frames:
        services.space_join(space=live_space, visitor=Visitor.of(UserFactory(username="late_fan")))
    assert [f["data"]["count"] for f in frames if f["type"] == "listeners.count"] == [4]


def test_lists_of_live_spaces_count_the_signed_out_listeners(live_space, client):
    from rest_framework.test import APIClient

    for n in range(2):
        services.space_join(space=live_space, visitor=Visitor.anonymous(f"listed-{n}", f"Listener {n}"))
    [listed] = APIClient().get("/api/spaces/?state=live").json()["results"]
    assert listed["listener_count"] == 2
    assert "2 listening" in client.get("/").content.decode()


def test_removing_a_signed_out_listener_makes_them_a_row_under_the_same_id(live_space):
    listening = services.space_join(space=live_space, visitor=Visitor.anonymous("to-remove", "Listener 13"), client="192.0.2.9")
    stays = services.space_join(space=live_space, visitor=Visitor.anonymous("stays", "Listener 14"))
    target = selectors.participant_get(space=live_space, uid=listening.uid)
    assert target.pk is None  # found in Redis
    removed = services.participant_remove(space=live_space, actor=live_space.host, participant=target, block=True)
    row = Participant.objects.get(pk=removed.pk)
    assert (row.uid, row.anon_id, row.address, row.blocked) == (listening.uid, "to-remove", "192.0.2.9", True)
    assert guests.count(live_space.pk) == 1 and selectors.listener_count(space=live_space) == 1
    # Blocked: by listener id, and by address for anyone signed out, without a database read.
    for visitor, client in ((Visitor.anonymous("to-remove", "x"), ""), (Visitor.anonymous("fresh", "y"), "192.0.2.9")):
        with pytest.raises(errors.Removed):
            services.space_join(space=live_space, visitor=visitor, client=client)
    # Redis restarted empty: the sweep puts the block back from the row.
    guests.forget_space(live_space.pk)
    services.presence_sweep()
    with pytest.raises(errors.Removed):
        services.space_join(space=live_space, visitor=Visitor.anonymous("to-remove", "x"))
    assert services.space_join(space=live_space, visitor=Visitor.anonymous("stays", "Listener 14")).uid == stays.uid


def test_a_signed_out_listeners_id_is_stable_per_space_and_reveals_nothing(live_space):
    uid = guests.guest_uid(live_space.pk, "listener-abc")
    assert uid == guests.guest_uid(live_space.pk, "listener-abc")
    assert uid != guests.guest_uid(live_space.pk + 1, "listener-abc")
    assert selectors.PUBLIC_ID.fullmatch(uid) and "abc" not in uid and len(uid) == 12


@pytest.mark.asyncio
async def test_a_crowd_of_page_viewers_without_session_or_ticket_costs_no_sql_either():
    """Before: a socket with neither session nor ticket (a page viewer as a crawler or an embed
    opens it) read the snapshot from the database on every connect, in a thread: about 60 such
    arrivals a second per process (``bench/daphne_floor.py``). Now they share the cached
    watcher's snapshot, are told once that they only watch, and count nowhere."""
    host, space = await start_space()
    host_ws = await connect(space, host)
    first = WebsocketCommunicator(application, f"/ws/spaces/{space.code}/", headers=[ORIGIN])
    await first.connect(timeout=5)
    await first.receive_json_from(timeout=5)
    crowd = []
    with QueryCounter() as counter:
        for _ in range(20):
            ws = WebsocketCommunicator(application, f"/ws/spaces/{space.code}/", headers=[ORIGIN])
            assert (await ws.connect(timeout=5))[0]
            snapshot = await ws.receive_json_from(timeout=5)
            assert snapshot["type"] == "snapshot" and snapshot["data"]["me"] is None
            told = await ws.receive_json_from(timeout=5)
            assert told["type"] == "error" and told["data"]["code"] == "session_required", told
            crowd.append(ws)
    assert counter.statements == []
    assert guests.count(space.pk) == 0
    assert await sync_to_async(selectors.listener_count)(space=space) == 0
    # And they still get the room's frames.
    speaker = await sync_to_async(lambda: services.space_join(space=space, visitor=Visitor.of(host)))()
    await sync_to_async(services.participant_set_muted)(space=space, actor=host, participant=speaker, muted=True)
    for ws in crowd[:3]:
        while (await ws.receive_json_from(timeout=5))["type"] != "participant.muted":
            pass
    for ws in [first, *crowd]:
        await ws.disconnect()
    await host_ws.close()


@pytest.mark.asyncio
async def test_a_crowd_arriving_right_after_a_change_reads_the_snapshot_once_for_all():
    """A frame that goes by makes the process's cached snapshot stale. Before, every arrival
    that came then read it again in the one thread a process's database work runs in, one
    after another; now the first starts one read and the others wait for it."""
    host, space = await start_space()
    first = WebsocketCommunicator(application, ticket_url(space, "warm-0001"), headers=[ORIGIN])
    await first.connect(timeout=5)
    await first.receive_json_from(timeout=5)
    speaker = await sync_to_async(lambda: services.space_join(space=space, visitor=Visitor.of(host)))()
    await sync_to_async(services.participant_set_muted)(space=space, actor=host, participant=speaker, muted=True)
    while (await first.receive_json_from(timeout=5))["type"] != "participant.muted":
        pass  # the relay has passed on a newer seq than the cached snapshot's

    async def arrive(n: int):
        ws = WebsocketCommunicator(application, ticket_url(space, f"rush-{n:04}"), headers=[ORIGIN])
        assert (await ws.connect(timeout=5))[0]
        return ws, await ws.receive_json_from(timeout=5)

    with ThreadHops() as hops:
        arrived = await asyncio.gather(*(arrive(n) for n in range(20)))
    assert hops.names() == ["rooms.arrivals.watcher_snapshot"]
    assert {snap["seq"] for _, snap in arrived} == {arrived[0][1]["seq"]}
    assert all([p["muted"] for p in snap["data"]["stage"]] == [True] for _, snap in arrived)
    for ws, _ in arrived:
        await ws.disconnect()
    await first.disconnect()


@pytest.mark.asyncio
async def test_a_cached_snapshot_is_never_older_than_a_frame_the_relay_has_passed_on():
    """A watcher arriving after a change gets it, though the snapshot before it was cached."""
    host, space = await start_space()
    first = await connect(space, anonymous=False)
    speaker = await sync_to_async(lambda: services.space_join(space=space, visitor=Visitor.of(host)))()
    assert speaker.role == "host"
    await sync_to_async(services.participant_set_muted)(space=space, actor=host, participant=speaker, muted=True)
    await first.frame_of("participant.muted")
    second = await connect(space, anonymous=False)
    assert second.snapshot["seq"] >= first.snapshot["seq"] + 1
    assert [p["muted"] for p in second.snapshot["data"]["stage"]] == [True]
    await first.close()
    await second.close()
    arrivals.forget()


@pytest.fixture(autouse=True)
def fresh_caches():
    arrivals.forget()
    yield
    arrivals.forget()


@pytest.fixture
def live_space(db):
    from .factories import UserFactory

    return services.space_create(host=UserFactory(), title="Crowd")


def test_a_batch_left_for_a_space_that_is_gone_does_not_stop_the_presence_sweep():
    """Before: a batch queued for a Space deleted since (or left in Redis by another database)
    made every presence sweep raise DoesNotExist before it reconciled anything."""
    gone = 2**31 - 7
    client = presence.sync_client()
    # A batch whose arming process died: queued, not armed.
    client.rpush(batches._batch_key(gone), json.dumps({"kind": "joined", "id": None}))
    client.sadd(batches._batching_key(), gone)
    services.presence_sweep()  # raised DoesNotExist
    assert not presence.sync_client().exists(batches._batch_key(gone))
