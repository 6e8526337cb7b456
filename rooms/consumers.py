"""The websocket of a Space: ``/ws/spaces/<code>/``. Protocol in docs/REALTIME.md.

The consumer authorises, makes the socket's person present (``services.space_join``), sends a
snapshot, writes out the frames the Space's relay hands it (rooms/relay.py), and turns the few
things a client may say (reactions, pings, resync requests) into service calls. It never writes
models itself, and nothing a client sends can change roles: that is the REST API's.
"""

import asyncio
import json
import logging
import math
import secrets
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from spaces import backpressure, outages
from spaces.logs import use_space

from . import arrivals, guests, limits, presence, relay, selectors, services, snapshot, throttles
from .services import attendance
from .errors import InvalidInput, NotFound, NotLive, Removed, SpaceError, Throttled, TooManySockets
from .identity import Visitor, client_of_scope, visitor_for_scope
from .publisher import REDIS_ERRORS, STAFF
from .models import Participant, Space

logger = logging.getLogger(__name__)

MAX_FRAME = 4096
REACTIONS_PER_SECOND = limits.REACTIONS_PER_SECOND
RESYNCS_PER_WINDOW = 10
# More bad or over-limit frames than this within the window closes the socket (4008).
FLOOD_LIMIT = 20
FLOOD_WINDOW = 10.0

CLOSE_REMOVED = 4003
CLOSE_NOT_FOUND = 4004
CLOSE_FLOOD = 4008
# Over a join throttle, or too many sockets for one person: try again later (like HTTP 429).
CLOSE_TOO_MANY = 4029
NO_SESSION = (
    "Open the Space's share page to join (its session cookie, or its ticket as ?ticket=); "
    "until then you are watching, not counted as a listener."
)


class SpaceConsumer(AsyncWebsocketConsumer):
    # No channel of its own: the relay of its Space in this process hands it every frame, so a
    # broadcast costs one channel-layer message per process, not one per socket.
    channel_layer_alias = None

    space: Space | None = None
    participant: Participant | None = None
    # A signed-out listener lives in Redis (rooms.guests): their socket counts as their presence
    # once it arrived in the live Space (``guest_present``), and they listen once they joined
    # the audio (``guest_listening``: put back after Redis lost it).
    guest: guests.Guest | None = None
    guest_present = False
    guest_listening = False
    # A signed-in viewer who is not on stage only watches (not counted, not named) until their
    # page joins the audio and says ``listening``; ``viewer`` is their row meanwhile, if any.
    # Their sockets are capped per account from the start (``cap_key``).
    signed_in: Visitor | None = None
    viewer: Participant | None = None
    capped: str | None = None
    space_relay: relay.SpaceRelay | None = None

    async def dispatch(self, message):
        """Channels' own ``dispatch`` first closes stale database connections in a worker thread,
        before every message: a thread hop for each arrival and each frame a client sends. This
        consumer reaches the database only through ``database_sync_to_async``, which does that
        itself around each call, so a message that needs no database here costs no hop."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.connection_id = secrets.token_urlsafe(9)
        self.is_staff = False
        self.closing = False
        # Frames from the relay wait here while a snapshot is being read, so that none is lost
        # between the snapshot's seq and the moment it is sent.
        self.held: list[tuple[dict, str, str]] | None = None
        self.snapshot_lock = asyncio.Lock()
        # Moments of bad frames and of resyncs within the window: lists (a few entries at most),
        # since an empty deque costs 0.4 KiB for each of thousands of idle sockets.
        self.strikes: list[float] = []
        self.reactions = limits.Allowance(limits.REACTIONS_PER_SECOND, limits.REACTIONS_BURST, now=time.monotonic())
        self.resyncs: list[float] = []
        self.tasks: set[asyncio.Task] = set()
        self.client = client_of_scope(self.scope)
        self.watch_only: SpaceError | None = None
        # Every line this socket's handlers log names the Space (they all run in this task's context).
        use_space(self.scope["url_route"]["kwargs"]["code"])
        # Accept first: a browser sees the close codes below only on an open socket.
        await self.accept()
        try:
            code = self.scope["url_route"]["kwargs"]["code"]
            self.space = arrivals.cached_space(code) or await database_sync_to_async(arrivals.space_by_code)(code)
        except NotFound as error:
            await self.send_error(error.code, error.detail)
            await self.close(code=CLOSE_NOT_FOUND)
            return
        except outages.DATABASE_ERRORS as error:
            await self.database_unavailable(error)
            return
        self.held = []
        try:
            self.space_relay = await relay.relay_add(self.space.pk, self)
        except REDIS_ERRORS as error:
            return await self.realtime_unavailable(error)
        # Whether the Space is live is the snapshot's to say (the Space here may be a cached copy).
        await self.send_snapshot(arrive=True)

    async def disconnect(self, code):
        for task in self.tasks:
            task.cancel()
        if self.space_relay is not None:
            self.space_relay = None
            await relay.relay_remove(self.space.pk, self)
        key = self.presence_key()
        if key is not None and self.space.state == Space.State.LIVE:
            # Never raises: with Redis down it is retried until Redis answers.
            await relay.connection_closed(self.space.pk, key, self.connection_id)
        cap = self.cap_key()
        if cap is not None:
            try:
                await throttles.socket_release(self.space.pk, cap, self.connection_id)
            except REDIS_ERRORS:
                pass  # its slot expires on its own (presence.CONNECTED_TTL)

    # --- arriving and snapshots -------------------------------------------------------------

    def presence_key(self) -> int | str | None:
        """Whose presence this socket keeps: a row's pk, a signed-out listener's ``g<uid>``."""
        if self.participant is not None:
            return self.participant.pk
        return self.guest.key if self.guest is not None and self.guest_present else None

    def cap_key(self) -> int | str | None:
        """Whose open sockets this one counts among (``throttles.socket_admit``): a signed-in
        person's account (``u<user pk>``, watching or not), a signed-out listener's ``g<uid>``."""
        if self.capped is not None:
            return self.capped
        return self.presence_key()

    def _arrive(self, visitor: Visitor) -> Participant | None:
        """A signed-in visitor's socket arrives in the live Space. Someone on stage (host, co-host,
        speaker) is present by being connected; anyone else only watches (None) until their page
        joins the audio and says ``listening`` (``_listen``): opening the page is not listening,
        and costs no database write.

        Only a known visitor arrives (a session, or the share page's ticket): a socket with
        neither watches, so that connecting again and again makes no new listeners. Raises
        ``Removed`` (blocked), ``Throttled`` (joins per client address) and ``TooManySockets``
        (sockets per person)."""
        if not visitor.known:
            self.watch_only = InvalidInput(NO_SESSION, code="session_required")
            return None
        self.signed_in = visitor
        existing = selectors.participant_for(space=self.space, visitor=visitor)
        if existing is not None and existing.blocked:
            raise Removed()
        if self.space.state == Space.State.LIVE:
            self._admit(f"u{visitor.user.pk}")
        if existing is None or not existing.is_speaking_role:
            self.viewer = existing
            return None
        return self._listen(visitor, existing)

    def _listen(self, visitor: Visitor, existing: Participant | None) -> Participant | None:
        """Make a signed-in visitor present in the live Space through this socket (``space_join``,
        idempotent while present); None if the Space is not live."""
        quiet = parse_qs(self.scope.get("query_string", b"").decode()).get("quiet") == ["1"]
        opened = existing is not None and not existing.blocked and existing.is_present
        if opened:
            # Counted before joining: a presence sweep that runs meanwhile sees this socket and
            # does not make them leave just as they come back.
            presence.connection_open(self.space.pk, existing.pk, self.connection_id)
        try:
            participant = services.space_join(space=self.space, visitor=visitor, quiet=quiet, client=self.client)
        except NotLive:
            participant = None
        except SpaceError:
            if opened:
                presence.connection_drop(self.space.pk, existing.pk, self.connection_id)
            raise
        if participant is None:
            if opened:
                presence.connection_drop(self.space.pk, existing.pk, self.connection_id)
            return None
        if not opened or existing.pk != participant.pk:
            presence.connection_open(self.space.pk, participant.pk, self.connection_id)
        return participant

    def _admit(self, key: str) -> None:
        if not throttles.socket_admit(self.space.pk, key, self.connection_id, now=time.time()):
            raise TooManySockets(attendance.SOCKETS_FULL.format(n=settings.SPACES_SOCKETS_PER_PERSON))
        self.capped = key

    def _listen_now(self) -> bool:
        """The ``listening`` frame of a signed-in viewer: present (and counted) from now on. True
        if this socket became their presence."""
        if self.space.state == Space.State.LIVE and self.capped is None:
            self._admit(f"u{self.signed_in.user.pk}")  # arrived before the Space went live
        existing = selectors.participant_for(space=self.space, visitor=self.signed_in)
        if existing is not None and existing.blocked:
            raise Removed()
        self.participant = self._listen(self.signed_in, existing)
        if self.participant is not None:
            self.viewer = None
        return self.participant is not None

    def _read_snapshot(self, arrive: bool, relisten: bool = False) -> dict:
        if arrive and self.guest is None and self.participant is None:
            visitor = self.signed_in or visitor_for_scope(self.scope)
            if visitor.known and not visitor.signed_in:
                self.guest = selectors.guest_for(space=self.space, visitor=visitor, client=self.client)
            else:
                self.participant = self._arrive(visitor)
        if self.guest is None:
            seat = self.participant or self.viewer
            if seat is None:
                # Someone watching (no row here): everyone watching sees the same snapshot.
                return arrivals.watcher_snapshot(self.space.pk, newest_seq=self._newest_seq())
            return snapshot.space_snapshot(space_id=self.space.pk, viewer=seat)
        return self._guest_snapshot(arrive, relisten)

    def _newest_seq(self) -> float:
        """The highest seq this process's relay of the Space has seen (a cached snapshot at or
        past it is current); infinite without a relay, so that nothing cached is trusted."""
        return self.space_relay.last_seq if self.space_relay is not None else math.inf

    def _guest_snapshot(self, arrive: bool, relisten: bool) -> dict:
        """A signed-out listener's snapshot, with no database read when this process has the
        Space's current one (``rooms.arrivals``); their socket arrives once the Space is live."""
        if relisten and self.guest_listening:
            services.guest_listen(space=self.space, guest=self.guest)  # Redis lost it: back in
        data, self.guest_listening = arrivals.guest_snapshot(self.space.pk, self.guest, newest_seq=self._newest_seq())
        if arrive and not self.guest_present and data["data"]["space"]["state"] == Space.State.LIVE:
            self.space.state = Space.State.LIVE
            services.guest_arrive(space=self.space, guest=self.guest, connection_id=self.connection_id)
            self.guest_present = True
        return data

    async def _guest_snapshot_in_loop(self, arrive: bool, relisten: bool) -> dict | None:
        """``_read_snapshot`` without leaving the event loop, for everyone without a session to
        load: a signed-out listener known by a ticket, and a page viewer with neither ticket nor
        session. The shared part comes from this process's cached watcher's snapshot (read again
        once for all who wait when a frame made it stale), a listener's own part and their
        arrival from one Redis script: a crowd's arrivals cost one round trip each and no thread
        hop. None for a socket with a session (the caller takes the thread path)."""
        if self.guest is None:
            session, user = self.scope.get("session"), self.scope.get("user")
            if not arrive or self.participant is not None or (session is not None and session.session_key):
                return None
            if user is not None and user.is_authenticated:
                return None
            visitor = visitor_for_scope(self.scope)  # the ticket alone: no database
            if not visitor.known:
                # Neither session nor ticket: a page viewer, who watches (``_arrive``).
                shared = await arrivals.awatcher_snapshot(self.space.pk, newest_seq=self._newest_seq)
                self.watch_only = InvalidInput(NO_SESSION, code="session_required")
                return shared
            self.guest = selectors.guest_for(space=self.space, visitor=visitor, client=self.client)
        shared = await arrivals.awatcher_snapshot(self.space.pk, newest_seq=self._newest_seq)
        live = shared["data"]["space"]["state"] == Space.State.LIVE
        if relisten and self.guest_listening and live:
            await attendance.aguest_listen(space=self.space, guest=self.guest)  # Redis lost it: back in
        if arrive and live and not self.guest_present:
            self.space.state = Space.State.LIVE
            found = await attendance.aguest_arrive(space=self.space, guest=self.guest, connection_id=self.connection_id)
            self.guest_present = True
        else:
            found = await guests.aget(self.space.pk, self.guest.uid) if live else None
        data, self.guest_listening = arrivals.with_me(shared, found)
        return data

    async def send_snapshot(self, *, arrive: bool = False, relisten: bool = False) -> None:
        """Send the whole visible state at its seq, then the frames that came meanwhile."""
        async with self.snapshot_lock:
            if self.held is None:
                self.held = []
            try:
                snapshot = await self._guest_snapshot_in_loop(arrive, relisten)
                if snapshot is None:
                    snapshot = await database_sync_to_async(self._read_snapshot)(arrive, relisten)
            except Removed as error:
                self.held = None
                await self.send_error(error.code, error.detail)
                await self.stop(CLOSE_REMOVED)
                return
            except (Throttled, TooManySockets) as error:
                self.held = None
                await self.send_error(error.code, error.detail, **error.extra)
                await self.stop(CLOSE_TOO_MANY)
                return
            except outages.DATABASE_ERRORS as error:
                self.held = None
                await self.database_unavailable(error)
                return
            except REDIS_ERRORS as error:
                self.held = None
                await self.realtime_unavailable(error)
                return
            data = snapshot["data"]
            self.space.state = data["space"]["state"]
            self.is_staff = bool(data["me"]) and data["me"]["role"] in Participant.STAFF_ROLES
            await self.send(text_data=arrivals.text_of(snapshot))
            held, self.held = self.held, None
            for frame, text, audience in held:
                fresh = frame["seq"] > snapshot["seq"] or frame.get("private") or frame.get("ephemeral")
                if fresh or frame["type"] == "participant.removed":
                    await self.deliver(frame, text, audience)
            if self.watch_only is not None:
                # Said once, after the snapshot: the socket stays open and gets every frame.
                error, self.watch_only = self.watch_only, None
                await self.send_error(error.code, error.detail)

    # --- frames from the relay ---------------------------------------------------------------

    def resync(self) -> None:
        """From the relay, after Redis came back: frames may be lost, send a fresh snapshot."""
        if not self.closing and self.space is not None:
            self.spawn(self.send_snapshot(relisten=True))

    def presence_member(self) -> tuple[int | str | None, str, int | str] | None:
        """What the relay's heartbeat renews: this socket's presence (None for a signed-in
        viewer who only watches), its connection id, and its slot among its person's sockets."""
        key, cap = self.presence_key(), self.cap_key()
        if cap is None or self.closing or self.space.state != Space.State.LIVE:
            return None
        return key, self.connection_id, cap

    async def deliver(self, frame: dict, text: str, audience: str) -> None:
        """A frame of this Space, from the relay: write it out, and follow what it says about us."""
        if self.closing:
            return
        if self.held is not None:
            self.held.append((frame, text, audience))
            return
        if audience == STAFF and not self.is_staff:
            return
        if not backpressure.write(self.scope, text):
            await self.send(text_data=text)
        kind = frame["type"]
        if kind.startswith("space."):
            self.space.state = frame["data"]["state"]
            if kind == "space.started" and self.participant is None and not self.guest_present:
                # The share page of a scheduled Space turns live: this socket becomes presence.
                self.spawn(self.send_snapshot(arrive=True))
            return
        about = (frame.get("data") or {}).get("participant")
        if self.guest is not None and isinstance(about, dict) and about.get("id") == self.guest.uid:
            if kind == "participant.removed":
                await self.stop(CLOSE_REMOVED)
            return
        mine = self.participant or self.viewer
        if mine is None or not isinstance(about, dict) or about.get("id") != mine.uid:
            return
        if kind == "participant.removed":
            await self.stop(CLOSE_REMOVED)
        elif kind == "participant.role_changed":
            was_staff, self.is_staff = self.is_staff, about["role"] in Participant.STAFF_ROLES
            if self.is_staff and not was_staff:
                self.spawn(self.send_snapshot())  # a new co-host needs the queue of raised hands

    # --- from the client ----------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if text_data is None:
            return await self.refuse("binary_frame", "Send JSON text frames.")
        if len(text_data) > MAX_FRAME or len(text_data.encode()) > MAX_FRAME:
            return await self.refuse("frame_too_large", f"Frames are limited to {MAX_FRAME} bytes.")
        try:
            message = json.loads(text_data)
        except ValueError:
            return await self.refuse("malformed_json", "That frame is not valid JSON.")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return await self.refuse("invalid_frame", 'Send an object with a "type".')
        handler = {
            "ping": self.on_ping, "resync": self.on_resync, "reaction": self.on_reaction, "listening": self.on_listening,
        }.get(message["type"])
        if handler is None:
            return await self.refuse("unknown_type", "Known types: ping, resync, reaction, listening.")
        await handler(message)

    async def on_ping(self, message):
        await self.send(text_data='{"type": "pong"}')

    async def on_resync(self, message):
        if self.space is None:
            return
        if not within_rate(self.resyncs, RESYNCS_PER_WINDOW, FLOOD_WINDOW):
            return await self.refuse("rate_limited", f"At most {RESYNCS_PER_WINDOW} resyncs in {FLOOD_WINDOW:.0f} seconds.")
        await self.send_snapshot()

    async def on_listening(self, message):
        """The page plays the Space's audio (said after the join API, and again on every
        reconnect): a signed-out listener is counted among the listeners (idempotent: as the
        join does), and this socket puts them back if Redis loses them; a signed-in viewer
        becomes present through this socket (joined, counted, named unless quiet) and gets a
        fresh snapshot (their own actions change). Trusted no more than the join API is: one
        identity counts once, and arrivals are throttled per address."""
        if self.signed_in is not None and self.participant is None and self.space is not None:
            return await self.signed_in_listens()
        if self.guest is None or not self.guest_present:
            return
        try:
            await attendance.aguest_listen(space=self.space, guest=self.guest)
        except SpaceError as error:
            return await self.refuse(error.code, error.detail)
        except REDIS_ERRORS as error:
            return await self.realtime_unavailable(error)
        self.guest_listening = True

    async def signed_in_listens(self) -> None:
        try:
            async with self.snapshot_lock:
                listening = await database_sync_to_async(self._listen_now)()
        except Removed as error:
            await self.send_error(error.code, error.detail)
            return await self.stop(CLOSE_REMOVED)
        except (Throttled, TooManySockets) as error:
            await self.send_error(error.code, error.detail, **error.extra)
            return await self.stop(CLOSE_TOO_MANY)
        except SpaceError as error:
            return await self.refuse(error.code, error.detail, **error.extra)
        except outages.DATABASE_ERRORS as error:
            return await self.database_unavailable(error)
        except REDIS_ERRORS as error:
            return await self.realtime_unavailable(error)
        if listening:
            await self.send_snapshot()

    async def on_reaction(self, message):
        if not self.reactions.take(time.monotonic()):
            return await self.refuse("rate_limited", f"At most {REACTIONS_PER_SECOND} reactions a second.")
        who = self.participant or (selectors.guest_wire(self.guest) if self.guest_present else None)
        if who is None and self.signed_in is not None and self.capped is not None:
            # A signed-in viewer who watches reacts as a signed-out one may (not counted for it).
            who = selectors.viewer_wire(visitor=self.signed_in, row=self.viewer)
        if who is None:
            return await self.refuse("not_present", "Reactions are for people in a live Space.")
        try:
            await database_sync_to_async(services.reaction_send)(
                space=self.space, participant=who, emoji=message.get("emoji"), client=self.client
            )
        except SpaceError as error:
            await self.refuse(error.code, error.detail, **error.extra)
        except outages.DATABASE_ERRORS as error:
            outages.note("reaction", error)
            await self.send_error(outages.CODE, outages.DETAIL)

    async def refuse(self, code: str, detail: str, **extra):
        """Answer with an error frame; too many within the window close the socket."""
        if not within_rate(self.strikes, FLOOD_LIMIT, FLOOD_WINDOW):
            await self.send_error("flood", "Too many bad frames; closing.")
            await self.stop(CLOSE_FLOOD)
            return
        await self.send_error(code, detail, **extra)

    # --- helpers of this consumer --------------------------------------------------------------

    async def send_error(self, code: str, detail: str, **extra):
        await self.send(text_data=json.dumps({"type": "error", "data": {"code": code, "detail": detail, **extra}}))

    async def database_unavailable(self, error: Exception) -> None:
        """The database does not answer (spaces.outages): say so, and close with 4503 (try again
        later); the client reconnects, and gets a fresh snapshot once it answers again."""
        outages.note(self.scope.get("path", "websocket"), error)
        await self.send_error(outages.CODE, outages.DETAIL)
        await self.stop(outages.CLOSE_TRY_AGAIN)

    async def realtime_unavailable(self, error: Exception) -> None:
        """Redis (channel layer, presence) does not answer: say so and close with 4503, like a
        database outage; the client reconnects with backoff (docs/RELIABILITY.md)."""
        logger.warning("Redis unavailable for a websocket: %s", error)
        await self.send_error("realtime_unavailable", "Live updates are not available right now; reconnecting shortly.")
        await self.stop(outages.CLOSE_TRY_AGAIN)

    async def stop(self, code: int) -> None:
        """Close with ``code`` and stop taking frames (the disconnect that follows cleans up)."""
        self.closing = True
        await self.close(code=code)

    def spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Websocket task failed", exc_info=task.exception())


def within_rate(moments: list[float], limit: int, window: float) -> bool:
    """Record one more occurrence now; False when that makes more than ``limit`` in ``window``."""
    now = time.monotonic()
    moments[:] = [moment for moment in moments if now - moment <= window][-limit:]
    moments.append(now)
    return len(moments) <= limit
