"""Several Janus nodes: which one holds a Space's speakers, which carry its listeners, how busy each is.

``settings.JANUS_NODES`` lists the nodes; empty, it is the one node ``settings.JANUS`` describes
(as ``make run`` starts it), and nothing here touches Redis. With several:

- a Space's AudioBridge room lives on one node, its *home*, chosen when the room is opened (the
  node that already holds it, if Janus says one does; else the least-loaded node that answers);
- its mix is ``rtp_forward``-ed to a Streaming mountpoint on every node of its *spread*: the home
  first, one more node whenever every node carrying it has ``JANUS_NODE_LISTENERS`` viewers;
- each listener is sent to the least-loaded node of the spread that answers;
- the reconcile surveys every node every few seconds (``record_survey``): a node that does not
  answer is *down*: nobody is sent to it, a Space whose home it was gets a new home, and its
  listeners, whose pages reconnect with fresh credentials when their audio is lost, land on the
  other nodes.

The placement is kept in Redis, not in the database: it is a cache of what Janus holds (each node
can be asked whether it holds a room), rebuilt by the reconcile if Redis loses it.
"""

import logging
import socket
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Node:
    name: str
    url: str  # Janus's HTTP API, for the app
    admin_url: str  # Janus's admin API, for the app
    public_url: str  # what browsers connect to; empty: ws://<page host>:ws_port
    ws_port: int
    forward_host: str  # the address (an IP) other nodes forward a room's mix to; mountpoints listen there
    packer_port: int  # its packer's UDP port on forward_host (rooms.media.packer)


def nodes() -> list[Node]:
    if settings.JANUS_NODES:
        return [
            Node(name=n["name"], url=n["url"], admin_url=n["admin_url"], public_url=n["public_url"],
                 ws_port=int(n["ws_port"]), forward_host=n["forward_host"],
                 packer_port=int(n.get("packer_port", settings.JANUS["PACKER_PORT"])))
            for n in settings.JANUS_NODES
        ]
    janus = settings.JANUS
    return [Node(name="local", url=janus["URL"], admin_url=janus["ADMIN_URL"], public_url=janus["PUBLIC_URL"],
                 ws_port=janus["WS_PORT"], forward_host=janus["FORWARD_IFACE"], packer_port=janus["PACKER_PORT"])]


def addresses() -> set[str]:
    """The addresses the nodes send a room's mix from: each node's forward address, names resolved
    now (the captions worker and the packer take datagrams from these only). A node on another
    machine sends from its address on the network that reaches this one, which is the forward
    address the other nodes use."""
    found = set()
    for node in nodes():
        try:
            found |= {info[4][0] for info in socket.getaddrinfo(node.forward_host, None, socket.AF_INET, socket.SOCK_DGRAM)}
        except socket.gaierror as error:
            logger.error("The forward address %r of Janus node %s does not resolve (%s): nothing it sends is taken",
                         node.forward_host, node.name, error)
    return found


def several() -> bool:
    return len(settings.JANUS_NODES) > 1


_clients: dict[str, redis.Redis] = {}


def client() -> redis.Redis:
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, decode_responses=True)
    return _clients[url]


def _key(*parts) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "spaces")
    return ":".join([prefix, "media-nodes", *map(str, parts)])


def down() -> set[str]:
    return set(client().smembers(_key("down")))


def healthy() -> list[Node]:
    gone = down()
    return [node for node in nodes() if node.name not in gone]


def by_name(name: str | None) -> Node | None:
    return next((node for node in nodes() if node.name == name), None)


def home(room_id: int) -> Node | None:
    return by_name(client().get(_key("home", room_id)))


def spread(room_id: int) -> set[str]:
    return set(client().smembers(_key("spread", room_id)))


def place(room_id: int, *, home_node: Node | None = None, spread_node: Node | None = None) -> None:
    pipe = client().pipeline()
    if home_node is not None:
        pipe.set(_key("home", room_id), home_node.name)
        pipe.sadd(_key("spread", room_id), home_node.name)
    if spread_node is not None:
        pipe.sadd(_key("spread", room_id), spread_node.name)
    pipe.execute()


def forget(room_id: int) -> None:
    client().delete(_key("home", room_id), _key("spread", room_id))


def loads() -> dict[str, int]:
    """Viewers per node at the last survey, plus the listeners sent there since."""
    pipe = client().pipeline(transaction=False)
    pipe.hgetall(_key("viewers"))
    pipe.hgetall(_key("sent"))
    viewers, sent = pipe.execute()
    return {node.name: int(viewers.get(node.name, 0)) + int(sent.get(node.name, 0)) for node in nodes()}


def least_loaded(candidates: list[Node], load: dict[str, int] | None = None) -> Node:
    load = loads() if load is None else load
    return min(candidates, key=lambda node: (load.get(node.name, 0), node.name))


def record_survey(*, viewers: dict[str, int], unreachable: set[str]) -> None:
    """What the reconcile found: viewers per answering node, and the nodes that did not answer."""
    pipe = client().pipeline()
    pipe.delete(_key("viewers"), _key("sent"), _key("down"))
    if viewers:
        pipe.hset(_key("viewers"), mapping=viewers)
    if unreachable:
        pipe.sadd(_key("down"), *unreachable)
    pipe.execute()


def listener_node(room_id: int) -> Node:
    """The node a listener of this room is sent to: the least-loaded node that carries the room
    and answers (counted at once, so a burst of joins between two surveys spreads too). One read
    and one write to Redis; without Redis, the first node."""
    all_nodes = nodes()
    try:
        pipe = client().pipeline(transaction=False)
        pipe.smembers(_key("spread", room_id))
        pipe.smembers(_key("down"))
        pipe.get(_key("home", room_id))
        pipe.hgetall(_key("viewers"))
        pipe.hgetall(_key("sent"))
        carrying, gone, home_name, viewers, sent = pipe.execute()
        up = [node for node in all_nodes if node.name not in gone]
        candidates = [node for node in up if node.name in carrying] or [
            node for node in up if node.name == home_name
        ] or up or all_nodes
        load = {name: int(viewers.get(name, 0)) + int(sent.get(name, 0)) for name in {n.name for n in all_nodes}}
        chosen = least_loaded(candidates, load)
        client().hincrby(_key("sent"), chosen.name, 1)
        return chosen
    except redis.RedisError:
        return all_nodes[0]
