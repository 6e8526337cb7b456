"""Abuse limits of a big audience: who may arrive on a websocket, joins per client address,
sockets per person, reactions per person and per address, API presence that expires, expired
sessions cleared, and a blocked signed-out listener kept out. Real Redis and PostgreSQL, through
the real ASGI application and the REST API."""

import asyncio
import json
import re
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.core import signing
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from rooms import identity, services
from rooms.models import Participant
from spaces.asgi import application
from spaces.celery import app as celery_app

from .test_realtime import ORIGIN, Socket, make_user, session_cookie, start_space

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def short_grace(settings):
    settings.SPACES_PRESENCE_GRACE = timedelta(seconds=0.5)


async def open_socket(space, *, cookie: bytes | None = None, query: str = "", address: str = "") -> WebsocketCommunicator:
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    communicator = WebsocketCommunicator(application, f"/ws/spaces/{space.code}/{query}", headers=headers)
    if address:
        communicator.scope["client"] = (address, 40000)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def frames(communicator, count: int) -> list[dict]:
    """The next ``count`` frames, a close counting as one (``{"type": "close", "code"}``)."""
    got = []
    while len(got) < count:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            got.append({"type": "close", "code": output["code"]})
            break
        got.append(json.loads(output["text"]))
    return got


@sync_to_async
def participant_count(space) -> int:
    return Participant.objects.filter(space=space).count()


@sync_to_async
def listener_count(space) -> int:
    from rooms import selectors

    return selectors.listener_count(space=space)


# --- who may arrive ------------------------------------------------------------------------------


async def test_a_socket_without_session_or_ticket_watches_and_mints_no_listener():
    _, space = await start_space()
    for _ in range(3):
        ws = await open_socket(space)
        got = await frames(ws, 2)
        assert got[0]["type"] == "snapshot" and got[0]["data"]["me"] is None
        assert got[1]["type"] == "error" and got[1]["data"]["code"] == "session_required"
        await ws.disconnect()
    assert await participant_count(space) == 1  # the host
    assert await listener_count(space) == 0


async def test_a_made_up_session_cookie_counts_as_none():
    _, space = await start_space()
    for n in range(2):
        ws = await open_socket(space, cookie=f"sessionid=madeup{n}aaaaaaaaaaaaaaaaaaaaaaaaa".encode())
        got = await frames(ws, 2)
        assert got[0]["data"]["me"] is None and got[1]["data"]["code"] == "session_required"
        await ws.disconnect()
    assert await participant_count(space) == 1
    assert await sync_to_async(Session.objects.count)() == 0


async def test_the_share_pages_ticket_makes_a_cookieless_socket_the_same_listener():
    _, space = await start_space()
    browser = Client()
    page = await sync_to_async(browser.get)(f"/s/{space.code}/")
    ticket = re.search(r'data-ticket="([^"]+)"', page.content.decode()).group(1)
    label = await sync_to_async(lambda: browser.session["listener_label"])()
    watching = await open_socket(space, query=f"?ticket={ticket}")
    got = await frames(watching, 1)
    # Known, but only watching: counted once they join the audio (the page's Listen).
    assert got[0]["data"]["me"] is None and await watching.receive_nothing(timeout=0.2)
    assert (await sync_to_async(browser.post)(f"/api/spaces/{space.code}/join/", "{}", content_type="application/json")).status_code == 200
    for _ in range(3):
        ws = await open_socket(space, query=f"?ticket={ticket}")
        snapshot = (await frames(ws, 1))[0]
        assert snapshot["data"]["me"]["name"] == label
        await ws.disconnect()
    await watching.disconnect()
    assert await listener_count(space) == 1
    assert await participant_count(space) == 1  # the host: a signed-out listener is no row


async def test_a_forged_or_expired_ticket_is_no_identity(settings):
    _, space = await start_space()
    forged = signing.dumps(["someone", "Listener 1"], salt="another-salt")
    settings.SPACES_WS_TICKET_MAX_AGE = 1
    expired = identity.ws_ticket(identity.Visitor.anonymous("late", "Listener 2"))
    await asyncio.sleep(2.1)
    for ticket in (forged, expired, "garbage"):
        ws = await open_socket(space, query=f"?ticket={ticket}")
        got = await frames(ws, 2)
        assert got[0]["data"]["me"] is None and got[1]["data"]["code"] == "session_required"
        await ws.disconnect()
    assert await participant_count(space) == 1


# --- joins per client address ----------------------------------------------------------------


async def test_websocket_arrivals_are_throttled_per_client_address(settings):
    settings.SPACES_JOINS_PER_CLIENT = 3
    _, space = await start_space()
    for _ in range(3):
        ws = await open_socket(space, cookie=await sync_to_async(session_cookie)(None), address="203.0.113.7")
        assert (await frames(ws, 1))[0]["type"] == "snapshot" and await ws.receive_nothing(timeout=0.2)
    refused = await open_socket(space, cookie=await sync_to_async(session_cookie)(None), address="203.0.113.7")
    got = await frames(refused, 2)
    assert got[0]["type"] == "error" and got[0]["data"]["code"] == "rate_limited"
    assert 1 <= got[0]["data"]["retry_after"] <= 60
    assert got[1] == {"type": "close", "code": 4029}
    other = await open_socket(space, cookie=await sync_to_async(session_cookie)(None), address="203.0.113.8")
    assert (await frames(other, 1))[0]["type"] == "snapshot" and await other.receive_nothing(timeout=0.2)


async def test_api_joins_are_throttled_per_client_address_with_retry_after(settings):
    settings.SPACES_JOINS_PER_CLIENT = 3
    _, space = await start_space()

    @sync_to_async
    def join(address):
        return APIClient().post(f"/api/spaces/{space.code}/join/", {}, format="json", REMOTE_ADDR=address)

    assert [(await join("198.51.100.1")).status_code for _ in range(3)] == [200, 200, 200]
    refused = await join("198.51.100.1")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert (await join("198.51.100.2")).status_code == 200
    assert await listener_count(space) == 4


# --- sockets per person --------------------------------------------------------------------------


async def test_sockets_per_person_are_capped_across_connections(settings):
    settings.SPACES_SOCKETS_PER_PERSON = 2
    host, space = await start_space()
    fan = await make_user(username="many_tabs")
    cookie = await sync_to_async(session_cookie)(fan)
    first, second = [await open_socket(space, cookie=cookie) for _ in range(2)]
    for ws in (first, second):
        # Watching (not counted until a page joins the audio), yet capped per account already.
        assert (await frames(ws, 1))[0]["type"] == "snapshot"
    third = await open_socket(space, cookie=cookie)
    got = await frames(third, 2)
    assert got[0]["data"]["code"] == "too_many_sockets"
    assert got[1] == {"type": "close", "code": 4029}
    # Closing one frees its place.
    await first.disconnect()
    fourth = await open_socket(space, cookie=cookie)
    assert (await frames(fourth, 1))[0]["type"] == "snapshot"
    # Someone else is not affected.
    host_ws = await open_socket(space, cookie=await sync_to_async(session_cookie)(host))
    assert (await frames(host_ws, 1))[0]["data"]["me"]["role"] == "host"


# --- reactions per person and per address --------------------------------------------------------


async def count_reactions(sockets: list[Socket], per_socket: int) -> tuple[int, int]:
    """Send ``per_socket`` reactions on each socket; returns (accepted, refused): the reactions the
    first socket saw broadcast, and the rate_limited errors all of them got."""
    for ws in sockets:
        for _ in range(per_socket):
            await ws.send({"type": "reaction", "emoji": "🔥"})
    accepted = refused = 0
    deadline = time.monotonic() + 20
    while accepted + refused < len(sockets) * per_socket and time.monotonic() < deadline:
        for ws in sockets:
            while not await ws.nothing(timeout=0.05):
                frame = await ws.frame()
                if frame["type"] == "error":
                    assert frame["data"]["code"] == "rate_limited" and frame["data"]["retry_after"] >= 1
                    refused += 1
                elif frame["type"] == "reaction" and ws is sockets[0]:
                    accepted += 1
    return accepted, refused


async def test_reactions_are_limited_per_person_across_their_sockets(settings):
    settings.SPACES_SOCKETS_PER_PERSON = 5
    # A slow refill, so that a loaded machine handling the frames slowly does not blur the count.
    settings.SPACES_REACTIONS_PER_PERSON = 1
    _, space = await start_space()
    fan = await make_user(username="clapper")
    cookie = await sync_to_async(session_cookie)(fan)
    sockets = []
    for _ in range(3):
        ws = Socket(await open_socket(space, cookie=cookie))
        await ws.frame_of("snapshot")
        sockets.append(ws)
    # Each socket alone stays within its own burst (15); together they are twice over the
    # person's (15, refilled at 1 a second): without the shared bucket all 30 would pass.
    accepted, refused = await count_reactions(sockets, per_socket=10)
    assert accepted <= 20 and refused >= 10 and accepted + refused == 30


async def test_reactions_are_limited_per_client_address(settings):
    settings.SPACES_REACTIONS_PER_CLIENT = 1  # a burst of 3, refilled at 1 a second
    _, space = await start_space()
    sockets = []
    for n in range(3):
        fan = await make_user(username=f"neighbour{n}")
        ws = Socket(await open_socket(space, cookie=await sync_to_async(session_cookie)(fan), address="192.0.2.50"))
        await ws.frame_of("snapshot")
        sockets.append(ws)
    accepted, refused = await count_reactions(sockets, per_socket=4)
    assert accepted <= 8 and refused >= 4 and accepted + refused == 12


# --- API presence of signed-out listeners expires ------------------------------------------------


async def test_a_signed_out_api_join_expires_unless_renewed(settings):
    settings.SPACES_API_PRESENCE_TTL = timedelta(seconds=3)
    _, space = await start_space()
    signed_in = await make_user(username="scripted_account")

    @sync_to_async
    def join_both():
        anonymous = APIClient()
        assert anonymous.post(f"/api/spaces/{space.code}/join/", {}, format="json").status_code == 200
        account = APIClient()
        account.force_authenticate(signed_in)
        assert account.post(f"/api/spaces/{space.code}/join/", {}, format="json").status_code == 200
        return anonymous

    anonymous = await join_both()
    assert await listener_count(space) == 2
    # Renewed by joining again before it runs out.
    await asyncio.sleep(1.5)
    await sync_to_async(anonymous.post)(f"/api/spaces/{space.code}/join/", {}, format="json")
    await asyncio.sleep(1.8)
    await sync_to_async(services.presence_sweep)()
    assert await listener_count(space) == 2
    deadline = time.monotonic() + 10
    while await listener_count(space) != 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        await sync_to_async(services.presence_sweep)()
    # The signed-out listener has left; the account stays until it leaves (the API's meaning).
    assert await listener_count(space) == 1
    assert await sync_to_async(Participant.objects.filter(user=signed_in, left_at__isnull=True).exists)()


# --- expired sessions are cleared ----------------------------------------------------------------


@sync_to_async
def make_sessions():
    from django.contrib.sessions.backends.db import SessionStore

    live, old = SessionStore(), SessionStore()
    live["listener_id"] = old["listener_id"] = "x"
    live.create()
    old.create()
    Session.objects.filter(session_key=old.session_key).update(expire_date=timezone.now() - timedelta(days=1))
    return live.session_key, old.session_key


async def test_clearsessions_is_scheduled_and_clears_expired_sessions(settings):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "rooms.tasks.sessions_clear_task")
    assert entry["schedule"] <= 24 * 3600
    assert "rooms.tasks.sessions_clear_task" in celery_app.tasks
    live, old = await make_sessions()
    await sync_to_async(lambda: celery_app.tasks["rooms.tasks.sessions_clear_task"].delay().get(timeout=10))()
    keys = set(await sync_to_async(lambda: list(Session.objects.values_list("session_key", flat=True)))())
    assert live in keys and old not in keys


# --- a blocked signed-out listener stays out -----------------------------------------------------


async def test_a_blocked_signed_out_listener_stays_out_of_that_space():
    host, space = await start_space()
    host_api = APIClient()
    host_api.force_authenticate(host)
    listener = APIClient()

    @sync_to_async
    def join_and_block():
        joined = listener.post(f"/api/spaces/{space.code}/join/", {}, format="json", REMOTE_ADDR="203.0.113.66")
        uid = joined.json()["participant"]["id"]
        blocked = host_api.post(f"/api/spaces/{space.code}/participants/{uid}/remove/", {"block": True}, format="json")
        assert blocked.status_code == 200

    await join_and_block()

    @sync_to_async
    def join(client, address):
        return client.post(f"/api/spaces/{space.code}/join/", {}, format="json", REMOTE_ADDR=address)

    # The same session, and a fresh one (cookies cleared) from the same address: refused.
    assert (await join(listener, "203.0.113.66")).json()["code"] == "removed"
    fresh = await join(APIClient(), "203.0.113.66")
    assert fresh.status_code == 403 and fresh.json()["code"] == "removed" and "sign in" in fresh.json()["detail"]
    ws = await open_socket(space, cookie=await sync_to_async(session_cookie)(None), address="203.0.113.66")
    got = await frames(ws, 2)
    assert got[0]["data"]["code"] == "removed" and got[1] == {"type": "close", "code": 4003}
    # Nobody else is kept out: an account from that address, a signed-out listener from another.
    account = APIClient()
    account.force_authenticate(await make_user(username="same_cafe"))
    assert (await join(account, "203.0.113.66")).status_code == 200
    assert (await join(APIClient(), "203.0.113.67")).status_code == 200


# --- different listeners, counted in Redis, written when the Space ends --------------------------


async def test_unique_listeners_are_written_when_the_space_ends():
    host, space = await start_space()

    @sync_to_async
    def listen_and_end():
        people = [identity.Visitor.anonymous(f"anon-{n}", f"Listener {n}") for n in range(3)]
        first, *_ = [services.space_join(space=space, visitor=visitor) for visitor in people]
        # Leaving and coming back is still one listener.
        services.space_leave(space=space, participant=first)
        services.space_join(space=space, visitor=people[0])
        space.refresh_from_db()
        assert space.unique_listeners == 0  # nothing written while live
        ended = services.space_end(space=space, actor=host)
        ended.refresh_from_db()
        return ended.unique_listeners, ended.peak_listeners

    assert await listen_and_end() == (3, 3)
