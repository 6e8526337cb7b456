"""One Space over two Janus nodes: the speakers' AudioBridge on one, its mix forwarded to a
Streaming mountpoint on each, every listener sent to the least-loaded node, and a node that dies
drained: its speakers and listeners reconnect to the other node and are heard and hear again.
Two real Janus processes, daphne, a Celery worker and beat (the reconcile), headless Chromium."""

import json
import os
import subprocess
import sys

import pytest
import requests

from rooms.media import janus as media
from rooms.media import nodes
from rooms.models import Space
from tests.factories import UserFactory
from tests.conftest import require
from tests.processes import ROOT, wait_for

from .conftest import sign_in
from .test_audio import api_for, hears

THREE = [
    {"name": name, "url": f"http://127.0.0.1:1/{name}", "admin_url": f"http://127.0.0.1:1/{name}-admin", "public_url": "",
     "ws_port": port, "forward_host": "127.0.0.1"}
    for name, port in (("a", 8188), ("b", 8189), ("c", 8190))
]


@pytest.fixture
def janus_nodes() -> int:
    return 2


@pytest.fixture
def stack_env() -> dict[str, str]:
    # One viewer fills a node here, so the second listener already needs the second node.
    return {"JANUS_NODE_LISTENERS": "1", "SPACES_MEDIA_RECONCILE_INTERVAL": "1"}


def viewers(node: nodes.Node, room_id: int) -> int | None:
    """Viewers of the room's mountpoint on this node (None: no mountpoint there)."""
    with media.plugin(media.STREAMING, node) as streaming:
        info = media.JanusMediaServer()._mountpoint_info(streaming, room_id)
    return None if info is None else int(info.get("viewers", 0))


def holds_room(node: nodes.Node, room_id: int) -> bool:
    with media.plugin(media.AUDIOBRIDGE, node) as bridge:
        return bool(bridge.message({"request": "exists", "room": room_id}).get("exists"))


def listen(browser, stack, code: str):
    page = browser.new_context().new_page()
    page.goto(f"{stack.base}/s/{code}/")
    page.click("#listen")
    page.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=20000)
    return page


@pytest.mark.browser
@pytest.mark.integration
def test_listeners_spread_over_two_nodes_and_move_when_one_dies(stack, browser):
    stack.celery()  # the beat: the reconcile surveys the nodes every second
    first, second = nodes.nodes()
    host = UserFactory(username="host")
    created = api_for(host, stack.base).post(f"{stack.base}/api/spaces/", json={"title": "Two nodes"})
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    room = Space.objects.get(code=code).media_room_id
    # The room lives on one node (the least loaded: both are empty, so the first by name).
    assert wait_for(lambda: holds_room(first, room), timeout=20), stack.janus.tail()
    assert not holds_room(second, room)

    # The host goes on stage from their page: a tone into the mix on the first node.
    host_page = browser.new_context().new_page()
    sign_in(host_page, stack.base, "host")
    host_page.goto(f"{stack.base}/s/{code}/")
    # Someone on stage is connected by the page itself; an older page waits for a Listen tap.
    host_page.wait_for_function("""() => {
      const listen = document.getElementById('listen');
      if (listen && !listen.hidden) listen.click();
      return document.getElementById('media-status').textContent.includes('on stage');
    }""", timeout=20000, polling=500)

    # The first listener is sent to the node that carries the room and hears it.
    one = listen(browser, stack, code)
    assert hears(one, timeout=15), "the first listener never heard the speaker"
    assert wait_for(lambda: viewers(first, room) == 1, timeout=10)
    # That node is full (JANUS_NODE_LISTENERS=1): the reconcile forwards the mix to the second.
    assert wait_for(lambda: viewers(second, room) == 0, timeout=15), "the mix was never forwarded to the second node"

    # The second listener gets the least-loaded node, the second, and hears the same speaker there.
    two = listen(browser, stack, code)
    assert hears(two, timeout=15), "the listener on the second node never heard the speaker"
    assert viewers(first, room) == 1 and viewers(second, room) == 1

    # The first node (the speakers' too) dies and stays down: the reconcile opens the room on the
    # second node, the speaker's page and the first listener's reconnect there with fresh
    # credentials, and both listeners hear the speaker again.
    stack.janus.stop()
    assert wait_for(lambda: holds_room(second, room), timeout=20), "the room never moved to the second node"
    assert wait_for(lambda: viewers(second, room) == 2, timeout=30), "the first node's listener was not moved"
    assert hears(one, timeout=20), "the moved listener hears nothing"
    assert hears(two, timeout=10), "the listener on the surviving node hears nothing"

    # The Space ends: its room and mountpoints are gone from the node that answers.
    assert api_for(host, stack.base).post(f"{stack.base}/api/spaces/{code}/end/").status_code == 200
    assert wait_for(lambda: viewers(second, room) is None and not holds_room(second, room), timeout=15)


def watch(node: nodes.Node, credentials: dict, pin: str) -> tuple[int, int | None]:
    """What a listener's client does on a node's HTTP API: a session with the listener's own token,
    the Streaming plugin, ``watch`` with a PIN. Returns (session id, Janus's error code or None)."""
    token = credentials["token"]

    def post(path: str, body: dict) -> dict:
        return requests.post(node.url + path, json={**body, "token": token, "transaction": "t"}, timeout=5).json()

    session = post("", {"janus": "create"})["data"]["id"]
    handle = post(f"/{session}", {"janus": "attach", "plugin": media.STREAMING})["data"]["id"]
    post(f"/{session}/{handle}", {"janus": "message", "body": {"request": "watch", "id": credentials["mountpoint"], "pin": pin}})
    event = requests.get(f"{node.url}/{session}", params={"maxev": 1, "token": token}, timeout=35).json()
    data = (event[0] if isinstance(event, list) else event).get("plugindata", {}).get("data", {})
    return session, data.get("error_code")


def sessions_on(node: nodes.Node) -> set[int]:
    return set(media._admin_request("", {"janus": "list_sessions"}, node).get("sessions", []))


@pytest.mark.integration
def test_removal_pins_and_reconcile_hold_on_every_node(stack):
    stack.celery()
    first, second = nodes.nodes()
    by_port = {node.ws_port: node for node in (first, second)}
    host = UserFactory(username="host")
    api = api_for(host, stack.base)
    code = api.post(f"{stack.base}/api/spaces/", json={"title": "Two nodes"}).json()["code"]
    space = Space.objects.get(code=code)
    assert wait_for(lambda: holds_room(first, space.media_room_id), timeout=20), stack.janus.tail()

    def join() -> tuple[dict, dict]:
        joined = requests.Session().post(f"{stack.base}/api/spaces/{code}/join/", json={})
        assert joined.status_code == 200, joined.text
        return joined.json()["participant"], joined.json()["media"]

    # One listener on the first node fills it; the next is sent to the second.
    _, one = join()
    assert by_port[one["ws_port"]] == first
    session_one, refused = watch(first, one, one["pin"])
    assert refused is None
    assert wait_for(lambda: viewers(second, space.media_room_id) == 0, timeout=15)
    fan, two = join()
    assert by_port[two["ws_port"]] == second
    session_two, refused = watch(second, two, two["pin"])
    assert refused is None and session_two in sessions_on(second)

    # The host blocks the listener on the second node: their session there is ended, the PIN
    # changes on both nodes (the old one opens nothing anywhere), everyone else keeps listening.
    removed = api.post(f"{stack.base}/api/spaces/{code}/participants/{fan['id']}/remove/", json={"block": True})
    assert removed.status_code == 200, removed.text
    assert wait_for(lambda: session_two not in sessions_on(second), timeout=10), "the blocked listener's session lives on"
    assert session_one in sessions_on(first)
    new_pin = Space.objects.get(pk=space.pk).media_pin
    assert new_pin != one["pin"]
    for node in (first, second):
        assert wait_for(lambda: watch(node, one, one["pin"])[1] is not None, timeout=10), f"the old PIN still opens {node.name}"
        assert watch(node, one, new_pin)[1] is None

    # A copy of the room on a node that is not its home (as a node that answers again after the
    # room moved away would still hold): the reconcile destroys it.
    with media.plugin(media.AUDIOBRIDGE, second) as bridge:
        media.JanusMediaServer()._bridge_open(bridge, space.media_room_id, [], None)
    assert wait_for(lambda: not holds_room(second, space.media_room_id), timeout=10), "a stray room outlived the reconcile"
    assert holds_room(first, space.media_room_id)


@pytest.fixture
def three_nodes(settings):
    """Three nodes in the settings (nobody listens on their ports: placement needs only Redis)."""
    require(wait_for(lambda: nodes.client().ping(), timeout=2) is not None, "Redis is needed")
    settings.JANUS_NODES = THREE
    return {node.name: node for node in nodes.nodes()}


def test_a_listener_goes_to_the_least_loaded_node_that_carries_the_space_and_answers(three_nodes):
    a, b = three_nodes["a"], three_nodes["b"]
    nodes.place(7, home_node=a)
    nodes.place(7, spread_node=b)
    nodes.record_survey(viewers={"a": 5, "b": 3, "c": 0}, unreachable=set())
    # c is the emptiest, but it does not carry this Space.
    assert [nodes.listener_node(7).name for _ in range(3)] == ["b", "b", "a"]  # b reaches 5: a by name
    credentials = media.JanusMediaServer().credentials(room_id=7, pin="p", participant=type(
        "Listener", (), {"pk": 1, "uid": "listener1", "is_speaking_role": False, "media_token": "", "media_id": None})())
    assert credentials["ws_port"] == b.ws_port  # a has 6 now, b 5
    # A node that did not answer the survey gets nobody; the counts start again from the survey.
    nodes.record_survey(viewers={"a": 9, "c": 0}, unreachable={"b"})
    assert {nodes.listener_node(7).name for _ in range(3)} == {"a"}
    assert nodes.down() == {"b"} and [node.name for node in nodes.healthy()] == ["a", "c"]


def test_a_space_nobody_placed_yet_sends_listeners_to_a_node_that_answers(three_nodes):
    nodes.record_survey(viewers={"b": 0, "c": 4}, unreachable={"a"})
    assert nodes.listener_node(8).name == "b"
    nodes.forget(8)
    assert nodes.home(8) is None and nodes.spread(8) == set()


def test_the_settings_refuse_janus_nodes_they_cannot_use():
    for bad, says in (('[{"name": "a"}]', "JANUS_NODES: a JSON list of objects with the keys"),
                      (json.dumps([THREE[0], THREE[0]]), "every node needs its own name")):
        done = subprocess.run([sys.executable, "-c", "import spaces.settings"], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "JANUS_NODES": bad}, timeout=60)
        assert done.returncode != 0 and says in done.stderr, done.stderr[-500:]
