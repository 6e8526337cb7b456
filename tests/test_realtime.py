"""The websocket protocol, through the real ASGI application and the real Redis channel layer."""

import asyncio
import json
import secrets
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from rooms import guests, limits, presence, relay, selectors, services
from rooms.models import Participant, Space
from rooms.identity import Visitor
from spaces.asgi import application

from .factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture(autouse=True)
def short_grace(settings):
    settings.SPACES_PRESENCE_GRACE = timedelta(seconds=0.5)


def session_cookie(user=None, anonymous_label: bool = False, anon_id: str = "") -> bytes:
    client = Client()
    if user is not None:
        client.force_login(user)
    else:
        session = client.session
        session["listener_id"] = anon_id or f"anon-{id(client)}"
        session["listener_label"] = "Listener 4242"
        session.save()
        client.cookies["sessionid"] = session.session_key
    return f"sessionid={client.cookies['sessionid'].value}".encode()


class Socket:
    """A websocket client that remembers the last seq, like the browser's."""

    def __init__(self, communicator):
        self.ws = communicator

    async def frame(self, timeout=3.0) -> dict:
        return await self.ws.receive_json_from(timeout=timeout)

    async def frame_of(self, kind: str, timeout=3.0) -> dict:
        """The next frame of this type, skipping others."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {kind} frame within {timeout}s")
            frame = await self.frame(timeout=left)
            if frame["type"] == kind:
                return frame

    async def nothing(self, timeout=0.3) -> bool:
        return await self.ws.receive_nothing(timeout=timeout)

    async def send(self, payload):
        await self.ws.send_to(text_data=payload if isinstance(payload, str) else json.dumps(payload))

    async def close(self):
        await self.ws.disconnect()


async def connect(space, user=None, *, quiet=False, anonymous=True, headers=None, listen=None) -> Socket:
    """A socket of ``user``, or of a signed-out listener ("Listener 4242"), who with ``listen``
    also joins the audio (as the page's Listen does: the join, then a ``listening`` frame).

    A signed-in user listens unless ``listen=False`` (opening the page only watches): a listener's
    socket says ``listening`` and waits for the snapshot that answers it (``socket.snapshot``);
    someone on stage is present from the start."""
    if listen is None:
        listen = user is not None
    anon_id = f"anon-{secrets.token_hex(6)}"
    cookie = await sync_to_async(session_cookie)(user, anon_id=anon_id) if (user or anonymous) else None
    path = f"/ws/spaces/{space.code}/" + ("?quiet=1" if quiet else "")
    hdrs = headers if headers is not None else [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    communicator = WebsocketCommunicator(application, path, headers=hdrs)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    socket = Socket(communicator)
    snapshot = await socket.frame()
    assert snapshot["type"] == "snapshot"
    socket.snapshot = snapshot
    if listen and user is None:
        await sync_to_async(services.space_join)(space=space, visitor=Visitor.anonymous(anon_id, "Listener 4242"))
        await socket.send({"type": "listening"})
    me, live = snapshot["data"]["me"], snapshot["data"]["space"]["state"] == "live"
    if listen and user is not None and live and (me is None or me["role"] == "listener"):
        await socket.send({"type": "listening"})
        socket.snapshot = await socket.frame_of("snapshot")
    return socket


@sync_to_async
def start_space(title="Live show"):
    host = UserFactory()
    return host, services.space_create(host=host, title=title)


@sync_to_async
def make_user(**kwargs):
    return UserFactory(**kwargs)


async def test_first_frame_is_a_snapshot_then_deltas_follow_with_seq_plus_one():
    host, space = await start_space()
    host_ws = await connect(space, host)
    seq = host_ws.snapshot["seq"]
    assert host_ws.snapshot["data"]["me"]["role"] == "host"
    assert [p["role"] for p in host_ws.snapshot["data"]["stage"]] == ["host"]

    listener = await connect(space, await make_user(username="ada"))
    joined = await host_ws.frame_of("participant.joined")
    count = await host_ws.frame_of("listeners.count")
    assert joined["seq"] == seq + 1 and count["seq"] == seq + 2
    assert joined["data"]["participant"]["name"] == "ada"
    assert count["data"]["count"] == 1

    target = await sync_to_async(Participant.objects.get)(user__username="ada")
    await sync_to_async(services.participant_set_role)(space=space, actor=host, participant=target, role="speaker")
    changed = await host_ws.frame_of("participant.role_changed")
    assert changed["seq"] == seq + 3
    # The count comes with the change: no separate listeners.count frame follows it.
    assert changed["data"]["count"] == 0 and changed["data"]["previous_role"] == "listener"
    assert await host_ws.nothing(timeout=0.5)
    assert (await listener.frame_of("participant.role_changed"))["data"]["participant"]["role"] == "speaker"
    await host_ws.close()
    await listener.close()


async def test_unknown_code_is_refused():
    communicator = WebsocketCommunicator(application, "/ws/spaces/nope/", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=5)
    # Accepted first, so that a browser sees why: an error frame, then close code 4004.
    assert connected
    frame = await communicator.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["data"]["code"] == "space_not_found"
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4004}


async def test_foreign_origin_is_refused():
    _, space = await start_space()
    communicator = WebsocketCommunicator(
        application, f"/ws/spaces/{space.code}/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_signed_out_listeners_are_present_under_their_session_label():
    host, space = await start_space()
    host_ws = await connect(space, host)
    watcher = await connect(space)
    listener = await connect(space, listen=True)
    # Announced in the batch of that second; someone who only opened the page is not.
    batch = await host_ws.frame_of("participant.batch")
    [joined] = batch["data"]["joined"]
    assert joined["name"] == "Listener 4242" and joined["signed_in"] is False
    assert batch["data"]["count"] == 1
    await watcher.close()
    await listener.close()
    await host_ws.close()


async def test_a_reload_within_the_grace_announces_nothing():
    host, space = await start_space()
    host_ws = await connect(space, host)
    ada = await make_user(username="ada")
    first = await connect(space, ada)
    await host_ws.frame_of("listeners.count")
    await first.close()
    again = await connect(space, ada)
    await asyncio.sleep(1.0)  # past the grace: the closed socket expires, the new one holds
    assert await host_ws.nothing(timeout=0.5)
    await again.close()
    left = await host_ws.frame_of("participant.left", timeout=5)
    assert left["data"]["participant"]["name"] == "ada"
    await host_ws.close()


async def test_two_tabs_of_one_person_count_once():
    host, space = await start_space()
    host_ws = await connect(space, host)
    ada = await make_user(username="ada")
    tab1 = await connect(space, ada)
    tab2 = await connect(space, ada)
    await host_ws.frame_of("participant.joined")
    await host_ws.frame_of("listeners.count")
    assert await host_ws.nothing(timeout=0.5)  # the second tab announced nothing
    await tab1.close()
    await asyncio.sleep(1.0)
    assert await host_ws.nothing(timeout=0.3)
    assert tab2.snapshot["data"]["listener_count"] == 1
    await tab2.close()
    await host_ws.frame_of("participant.left", timeout=5)
    await host_ws.close()


async def test_quiet_listeners_are_counted_but_never_named_even_to_the_host():
    host, space = await start_space()
    host_ws = await connect(space, host)
    quiet = await connect(space, await make_user(username="shy"), quiet=True)
    count = await host_ws.frame_of("listeners.count")
    assert count["data"]["count"] == 1
    await host_ws.send({"type": "resync"})
    snapshot = await host_ws.frame_of("snapshot")
    assert snapshot["data"]["listener_count"] == 1
    assert "shy" not in json.dumps(snapshot)
    await quiet.close()
    frame = await host_ws.frame_of("listeners.count", timeout=5)
    assert frame["data"]["count"] == 0
    await host_ws.close()


async def test_raised_hands_reach_only_host_and_cohosts():
    host, space = await start_space()
    host_ws = await connect(space, host)
    ada = await make_user(username="ada")
    ada_ws = await connect(space, ada)
    other_ws = await connect(space, await make_user(username="bob"))
    ada_p = await sync_to_async(Participant.objects.get)(user=ada)
    await sync_to_async(services.hand_raise)(space=space, participant=ada_p)
    raised = await host_ws.frame_of("hand.raised")
    assert raised["private"] is True and raised["data"]["participant"]["name"] == "ada"
    # Listeners see nothing of it: not the frame, not a gap in seq.
    other_frames = []
    while not await other_ws.nothing(timeout=0.5):
        other_frames.append(await other_ws.frame())
    assert all(f["type"] != "hand.raised" for f in other_frames)
    await host_ws.send({"type": "resync"})
    assert [p["name"] for p in (await host_ws.frame_of("snapshot"))["data"]["hands"]] == ["ada"]
    for ws in (host_ws, ada_ws, other_ws):
        await ws.close()


async def test_a_removed_person_is_told_and_disconnected_and_cannot_come_back():
    host, space = await start_space()
    ada = await make_user(username="ada")
    ada_ws = await connect(space, ada)
    ada_p = await sync_to_async(Participant.objects.get)(user=ada)
    await sync_to_async(services.participant_remove)(space=space, actor=host, participant=ada_p, block=True)
    removed = await ada_ws.frame_of("participant.removed")
    assert removed["data"]["participant"]["name"] == "ada" and removed["data"]["blocked"] is True
    assert removed["data"]["count"] == 0
    assert (await ada_ws.ws.receive_output(timeout=3))["code"] == 4003

    cookie = await sync_to_async(session_cookie)(ada)
    again = WebsocketCommunicator(application, f"/ws/spaces/{space.code}/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, _ = await again.connect(timeout=5)
    assert connected
    error = await again.receive_json_from(timeout=3)
    assert error["type"] == "error" and error["data"]["code"] == "removed"
    assert (await again.receive_output(timeout=3))["code"] == 4003


@pytest.mark.parametrize(
    "payload, code",
    [
        ("{not json", "malformed_json"),
        ('"just a string"', "invalid_frame"),
        ('{"type": "promote", "id": "x"}', "unknown_type"),
        (json.dumps({"type": "ping", "pad": "x" * 5000}), "frame_too_large"),
        ('{"type": "reaction", "emoji": "💩"}', "unknown_reaction"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_connection_stays(payload, code):
    _, space = await start_space()
    ws = await connect(space, await make_user())
    await ws.send(payload)
    error = await ws.frame_of("error")
    assert error["data"]["code"] == code and error["data"]["detail"]
    await ws.send({"type": "ping"})
    assert (await ws.frame_of("pong"))["type"] == "pong"
    await ws.close()


async def test_a_flood_of_bad_frames_closes_with_4008():
    _, space = await start_space()
    ws = await connect(space, await make_user())
    for _ in range(30):
        await ws.send("garbage")
    while True:
        output = await ws.ws.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            assert output["code"] == 4008
            break


async def test_reactions_reach_everyone_and_are_rate_limited():
    host, space = await start_space()
    host_ws = await connect(space, host)
    fan = await connect(space, await make_user(username="fan"))
    await host_ws.frame_of("listeners.count")
    sent = limits.REACTIONS_BURST + 10
    for _ in range(sent):
        await fan.send({"type": "reaction", "emoji": "👏"})
    errors = 0
    reactions = 0
    while not await fan.nothing(timeout=0.5):
        frame = await fan.frame()
        errors += frame["type"] == "error" and frame["data"]["code"] == "rate_limited"
        reactions += frame["type"] == "reaction"
    # The burst passes; beyond it, only what the rate refilled meanwhile (handling them takes a
    # moment, longer on a loaded machine), and the rest is refused.
    assert reactions + errors == sent
    assert limits.REACTIONS_BURST <= reactions < sent and errors >= 1, (reactions, errors)
    seen = await host_ws.frame_of("reaction")
    assert seen["data"] == {"emoji": "👏", "by": "fan"} and seen["ephemeral"] is True
    await fan.close()
    await host_ws.close()


async def test_nothing_a_client_sends_changes_roles():
    host, space = await start_space()
    ws = await connect(space, await make_user(username="sneaky"))
    for frame in ({"type": "participant.role_changed", "role": "cohost"}, {"type": "promote"}, {"type": "role", "role": "host"}):
        await ws.send(frame)
        assert (await ws.frame_of("error"))["data"]["code"] == "unknown_type"
    roles = await sync_to_async(lambda: list(Participant.objects.values_list("role", flat=True)))()
    assert sorted(roles) == ["host", "listener"]
    await ws.close()


async def test_resync_returns_a_snapshot_at_the_latest_seq():
    host, space = await start_space()
    host_ws = await connect(space, host)
    listener = await connect(space, await make_user())
    last = (await host_ws.frame_of("listeners.count"))["seq"]
    await host_ws.send({"type": "resync"})
    snapshot = await host_ws.frame_of("snapshot")
    assert snapshot["seq"] == last
    assert snapshot["data"]["listener_count"] == 1
    await listener.close()
    await host_ws.close()


async def test_a_scheduled_space_page_turns_live_and_present_without_reconnecting():
    host = await make_user()
    space = await sync_to_async(services.space_create)(
        host=host, title="Soon", scheduled_for=timezone.now() + timedelta(hours=1)
    )
    visitor = await connect(space, await make_user(username="early"))
    guest = await connect(space)
    assert visitor.snapshot["data"]["space"]["state"] == "scheduled"
    assert visitor.snapshot["data"]["me"] is None
    await sync_to_async(services.space_go_live)(space=space.pk, expected_scheduled_for=space.scheduled_for)
    started = await visitor.frame_of("space.started")
    assert started["data"]["state"] == "live"
    snapshot = await visitor.frame_of("snapshot")
    # Watching until their page joins the audio; then present and counted.
    assert snapshot["data"]["me"] is None and snapshot["data"]["listener_count"] == 0
    await visitor.send({"type": "listening"})
    snapshot = await visitor.frame_of("snapshot")
    assert snapshot["data"]["me"]["role"] == "listener" and snapshot["data"]["listener_count"] == 1
    # A signed-out visitor's socket is their presence from then on (watching until they listen).
    assert (await guest.frame_of("space.started"))["data"]["state"] == "live"
    assert await wait_until(lambda: presence.connection_count(space.pk) == 2)
    await visitor.close()
    await guest.close()


async def test_ending_the_space_reaches_every_socket():
    host, space = await start_space()
    sockets = [await connect(space, await make_user()) for _ in range(3)]
    await sync_to_async(services.space_end)(space=space, actor=host)
    for ws in sockets:
        assert (await ws.frame_of("space.ended"))["data"]["state"] == "ended"
        await ws.close()


async def test_big_rooms_get_joins_in_batches_of_one_frame_a_second(settings):
    settings.SPACES_BIG_ROOM = 3
    host, space = await start_space()
    host_ws = await connect(space, host)
    join = sync_to_async(services.space_join)
    for i in range(2):
        await join(space=space, visitor=Visitor.of(await make_user(username=f"small{i}")))
    for _ in range(2):
        await host_ws.frame_of("participant.joined")
    for i in range(30):
        await join(space=space, visitor=Visitor.anonymous(f"big-{i}", f"Listener 1{i:02}"))
    batch = await host_ws.frame_of("participant.batch", timeout=5)
    frames = [batch]
    while not await host_ws.nothing(timeout=1.5):
        frames.append(await host_ws.frame())
    batches = [f for f in frames if f["type"] == "participant.batch"]
    assert not [f for f in frames if f["type"] == "participant.joined"]
    assert sum(b["data"]["joined_count"] for b in batches) == 30
    assert len(batches) <= 3  # 30 joins within about a second: one or two batches, not 30 frames
    assert all(len(b["data"]["joined"]) <= 20 for b in batches)
    assert batches[-1]["data"]["count"] == 32
    assert [b["seq"] for b in batches] == list(range(batches[0]["seq"], batches[0]["seq"] + len(batches)))
    await host_ws.close()


async def test_events_from_synchronous_code_reuse_their_redis_connections():
    """A service called from plain synchronous code (a Celery task, a command) publishes on its
    process's long-lived loop: many events, no new Redis connection each (``async_to_sync`` there
    would run every publish on a new event loop, with a new connection: milliseconds a frame)."""
    import redis
    from django.conf import settings
    from django.db import connections

    host, space = await start_space()
    host_ws = await connect(space, host)
    stats = redis.Redis.from_url(settings.REDIS_URL)

    def received() -> int:
        return stats.info("stats")["total_connections_received"]

    def update_many(takes: range):
        try:
            for take in takes:
                services.space_update(space=space, actor=host, title=f"Take {take}")
        finally:
            connections.close_all()

    # A plain thread, as a Celery worker's: no event loop of Channels' to borrow.
    await asyncio.to_thread(update_many, range(1))  # the loop and its connection exist from here
    before = await asyncio.to_thread(received)
    await asyncio.to_thread(update_many, range(1, 31))
    opened = await asyncio.to_thread(received) - before
    seqs = [(await host_ws.frame_of("space.updated"))["seq"] for _ in range(31)]
    assert seqs == list(range(seqs[0], seqs[0] + 31))
    assert opened < 10, f"{opened} Redis connections opened for 30 events"
    await host_ws.close()


async def test_a_client_under_the_reaction_limit_is_never_refused_when_the_server_handles_its_frames_in_a_clump():
    """4.5 reactions a second against a limit of 5, while the server stalls for 2.5 s (its one
    database thread busy, as under load): the frames sent meanwhile are handled together
    afterwards, and none of them may be refused."""
    host, space = await start_space()
    fan = await connect(space, await make_user(username="steady"))
    stall = None
    sent = 18
    for n in range(sent):
        if n == 2:
            # The consumer's service calls run on this same thread (thread-sensitive): it waits.
            stall = asyncio.create_task(database_sync_to_async(time.sleep)(2.5))
        await fan.send({"type": "reaction", "emoji": "🔥"})
        await asyncio.sleep(1 / 4.5)
    await stall
    reactions, errors = 0, []
    while not await fan.nothing(timeout=1.0):
        frame = await fan.frame()
        reactions += frame["type"] == "reaction"
        if frame["type"] == "error":
            errors.append(frame["data"]["code"])
    assert errors == []
    assert reactions == sent
    await fan.close()


async def test_a_quiet_space_tells_its_sockets_the_current_seq(settings):
    """A delta whose frame was lost (here: a seq taken without a frame) is noticed without
    waiting for the next event: the relay's seq frame carries the Space's current seq."""
    settings.SPACES_SEQ_BEAT = 0.5
    host, space = await start_space()
    ws = await connect(space, host)
    current = ws.snapshot["seq"]
    beat = await ws.frame_of("seq", timeout=3)
    assert beat == {"type": "seq", "seq": current}
    await sync_to_async(lambda: Space.objects.filter(pk=space.pk).update(event_seq=current + 1))()
    beat = await ws.frame_of("seq", timeout=3)
    assert beat == {"type": "seq", "seq": current + 1}
    await ws.close()


async def test_presence_lost_by_redis_comes_back_and_people_still_leave(monkeypatch):
    """Redis restarted empty (here: the Space's presence keys deleted): the relay's next
    heartbeat puts every open socket back, and someone who closes afterwards still leaves."""
    monkeypatch.setattr(presence, "HEARTBEAT", 0.3)
    host, space = await start_space()
    stays = await connect(space, listen=True)
    goes = await connect(space, await make_user(username="goes"))
    away = await connect(space, listen=True)
    assert await wait_until(lambda: selectors.listener_count(space=space) == 3)

    def forget():
        presence.sync_client().delete(presence.space_key(space.pk), presence.spaces_key())

    await sync_to_async(forget)()
    assert await wait_until(lambda: presence.connection_count(space.pk) == 3)
    await goes.close()
    await away.close()
    left = await wait_until(lambda: Participant.objects.filter(space=space, left_at__isnull=False).count() == 1)
    assert left, "the listener who closed after the loss never left"
    assert await wait_until(lambda: guests.count(space.pk) == 1), "the signed-out one who closed never left"
    assert await wait_until(lambda: selectors.listener_count(space=space) == 1)
    await stays.close()


async def wait_until(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await sync_to_async(condition)():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_listening_signed_out_listener_whom_redis_lost_is_put_back_by_their_socket():
    """Redis restarted empty: signed-out listeners are not rows, so nothing is left behind to
    reconcile; a socket whose page listens (it said ``listening``) puts its listener back when
    its relay recovers, and one that only watches does not count."""
    host, space = await start_space()
    listening = await connect(space, listen=True)
    watching = await connect(space)
    assert await wait_until(lambda: guests.count(space.pk) == 1)

    def forget():
        client = presence.sync_client()
        client.delete(*client.keys(f"{presence.space_key(space.pk)}*"), presence.spaces_key())

    await sync_to_async(forget)()
    assert await sync_to_async(guests.count)(space.pk) == 0
    await relay._registry()[space.pk].recover()
    assert await wait_until(lambda: guests.count(space.pk) == 1)
    assert await wait_until(lambda: presence.connection_count(space.pk) == 2)
    assert (await listening.frame_of("snapshot"))["data"]["me"]["name"] == "Listener 4242"
    assert (await watching.frame_of("snapshot"))["data"]["me"] is None
    await listening.close()
    await watching.close()

