"""Signed-in people who only open a live Space's page watch it: they get the live state, but the
count and the listener list are of people who joined the audio (their page says ``listening``).
Through the real ASGI application, Redis and PostgreSQL."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async

from rooms import presence, selectors, services
from rooms.models import Participant

from .test_guests import QueryCounter
from .test_realtime import connect, make_user, start_space, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def short_grace(settings):
    settings.SPACES_PRESENCE_GRACE = timedelta(seconds=0.5)


def counted(space) -> int:
    return selectors.listener_count(space=space)


def named(space) -> list[str]:
    return [p.display_name for p in selectors.listeners_newest(space=space, limit=100)]


def sweep(space) -> None:
    services.space_presence_expire(space_id=space.pk)


async def test_a_signed_in_viewer_is_not_counted_until_their_page_listens():
    host, space = await start_space()
    host_ws = await connect(space, host)
    fan = await make_user(username="fan")
    with QueryCounter() as queries:
        viewer = await connect(space, fan, listen=False)
    # Watching: the live state, without being in it; no row made or changed for opening the page.
    data = viewer.snapshot["data"]
    assert data["space"]["state"] == "live" and data["me"] is None
    assert data["listener_count"] == 0 and data["listeners"] == []
    # (Signing the test's user in writes its session and login; the Space's tables are untouched.)
    writes = [sql for sql in queries.statements if sql.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes and [sql for sql in writes if '"rooms_' in sql] == []
    assert await sync_to_async(Participant.objects.filter(user=fan).exists)() is False
    assert await sync_to_async(counted)(space) == 0
    assert await host_ws.nothing(timeout=0.5)  # nobody joined: no frame

    # The page joins the audio: counted and named, announced to everyone, own actions in a snapshot.
    await viewer.send({"type": "listening"})
    snapshot = await viewer.frame_of("snapshot")
    me = snapshot["data"]["me"]
    assert me["name"] == "fan" and me["role"] == "listener" and me["can"] == ["raise_hand", "leave"]
    assert snapshot["data"]["listener_count"] == 1
    assert (await host_ws.frame_of("participant.joined"))["data"]["participant"]["name"] == "fan"
    assert (await host_ws.frame_of("listeners.count"))["data"]["count"] == 1
    assert await sync_to_async(counted)(space) == 1 and await sync_to_async(named)(space) == ["fan"]

    # Saying it again changes nothing.
    await viewer.send({"type": "listening"})
    assert await host_ws.nothing(timeout=0.5)

    # Leaving (the page closes): uncounted once the grace has passed.
    await viewer.close()
    assert (await host_ws.frame_of("participant.left"))["data"]["participant"]["name"] == "fan"
    assert (await host_ws.frame_of("listeners.count"))["data"]["count"] == 0
    assert await sync_to_async(counted)(space) == 0 and await sync_to_async(named)(space) == []
    await host_ws.close()


async def test_two_tabs_of_one_person_count_once_and_a_watching_tab_keeps_nobody():
    host, space = await start_space()
    host_ws = await connect(space, host)
    fan = await make_user(username="tabs")
    first = await connect(space, fan)  # listens
    second = await connect(space, fan)  # listens too
    assert second.snapshot["data"]["listener_count"] == 1
    assert await sync_to_async(counted)(space) == 1 and await sync_to_async(named)(space) == ["tabs"]
    assert await sync_to_async(presence.connected_participants)(space.pk) == {
        await sync_to_async(lambda: Participant.objects.get(user=fan).pk)(),
        await sync_to_async(lambda: Participant.objects.get(user=host).pk)(),
    }
    # A third tab only watches: it sees them present (their row), adds nothing.
    third = await connect(space, fan, listen=False)
    assert third.snapshot["data"]["me"]["name"] == "tabs" and third.snapshot["data"]["listener_count"] == 1

    await first.close()
    await sweep_after_grace(space)
    assert await sync_to_async(counted)(space) == 1  # the second tab still listens
    await second.close()
    # Only the watching tab is left open: that is not listening, so they leave.
    assert (await host_ws.frame_of("participant.left"))["data"]["participant"]["name"] == "tabs"
    assert await wait_until(lambda: counted(space) == 0)
    assert (await third.frame_of("participant.left"))["data"]["participant"]["name"] == "tabs"
    await third.close()
    await host_ws.close()


async def sweep_after_grace(space):
    await asyncio.sleep(0.8)
    await sync_to_async(sweep)(space)


async def test_a_quiet_viewer_is_counted_once_listening_and_never_named():
    host, space = await start_space()
    host_ws = await connect(space, host)
    fan = await make_user(username="shy")
    viewer = await connect(space, fan, quiet=True, listen=False)
    assert await sync_to_async(counted)(space) == 0
    await viewer.send({"type": "listening"})
    assert (await viewer.frame_of("snapshot"))["data"]["me"]["quiet"] is True
    assert (await host_ws.frame_of("listeners.count"))["data"]["count"] == 1
    assert await sync_to_async(named)(space) == []
    await viewer.close()
    await host_ws.close()


async def test_a_watching_viewer_may_react_and_every_tab_of_a_removed_person_is_closed():
    host, space = await start_space()
    host_ws = await connect(space, host)
    fan = await make_user(username="clapper")
    viewer = await connect(space, fan, listen=False)
    await viewer.send({"type": "reaction", "emoji": "👏"})
    reaction = await host_ws.frame_of("reaction")
    assert reaction["data"] == {"emoji": "👏", "by": "clapper"}
    assert await sync_to_async(counted)(space) == 0

    # Removed and blocked while one tab listens and another watches: both are told and closed.
    await viewer.send({"type": "listening"})
    me = (await viewer.frame_of("snapshot"))["data"]["me"]
    watching = await connect(space, fan, listen=False)
    row = await sync_to_async(Participant.objects.get)(uid=me["id"])
    await sync_to_async(services.participant_remove)(space=space, actor=host, participant=row, block=True)
    for ws in (viewer, watching):
        assert (await ws.frame_of("participant.removed"))["data"]["participant"]["id"] == me["id"]
        assert (await ws.ws.receive_output(timeout=3))["code"] == 4003
    assert await sync_to_async(counted)(space) == 0
    await host_ws.close()
