"""An in-memory media server that records every call: the tests' stand-in for Janus.

State is per process and shared by every instance (``FakeMediaServer.reset()`` clears it), so a
test can read what the services made the media server do, and in what state they left it.
"""

import threading
from dataclasses import dataclass, field

from . import MediaError, Rooms, browser_credentials, extra_forwards


@dataclass
class FakeRoom:
    allowed: set[str] = field(default_factory=set)
    # Participant ids in the mix, and those muted by the server.
    mix: set[int] = field(default_factory=set)
    muted: set[int] = field(default_factory=set)
    record_file: str | None = None
    pin: str = ""
    # Forwards of the mix besides the listeners' (captions): (host, port, ssrc).
    forwards: set = field(default_factory=set)


class FakeMediaServer:
    calls: list[tuple[str, dict]] = []
    room_state: dict[int, FakeRoom] = {}
    # Connections a browser opened: session id -> whom its credentials name.
    sessions: dict[int, str | None] = {}
    # Set to make every call fail, as an unreachable server would.
    failing: bool = False
    _lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.calls.clear()
            cls.room_state.clear()
            cls.sessions.clear()
            cls.failing = False

    @classmethod
    def call_names(cls) -> list[str]:
        return [name for name, _ in cls.calls]

    def _record(self, name: str, **kwargs) -> None:
        with self._lock:
            self.calls.append((name, kwargs))
        if self.failing:
            raise MediaError("The fake media server is failing on purpose.")

    def room_open(self, *, room_id: int, allowed: list[str], pin: str, record_file: str | None = None) -> None:
        self._record("room_open", room_id=room_id, allowed=sorted(allowed), pin=pin, record_file=record_file)
        room = self.room_state.get(room_id)
        if room is None:
            room = self.room_state[room_id] = FakeRoom(allowed=set(allowed), record_file=record_file, pin=pin)
        else:  # as Janus: an existing room keeps its allowed list (the sync sets it); the PIN is put right
            room.pin = pin
        room.forwards = extra_forwards(room_id)  # as Janus: exactly these, the others stopped

    def room_close(self, *, room_id: int) -> None:
        self._record("room_close", room_id=room_id)
        self.room_state.pop(room_id, None)

    def room_sync(self, *, room_id: int, speakers: dict[int, bool], allowed: list[str]) -> dict:
        self._record("room_sync", room_id=room_id, speakers=dict(speakers), allowed=sorted(allowed))
        room = self.room_state.get(room_id)
        if room is None:
            return {"kicked": [], "muted": []}
        room.allowed = set(allowed)
        kicked = sorted(room.mix - set(speakers))
        muted = sorted(i for i in room.mix & set(speakers) if speakers[i] and i not in room.muted)
        room.mix -= set(kicked)
        room.muted = (room.muted - set(kicked)) | set(muted)
        return {"kicked": kicked, "muted": muted}

    def speaker_kick(self, *, room_id: int, participant_id: int) -> None:
        self._record("speaker_kick", room_id=room_id, participant_id=participant_id)
        room = self.room_state.get(room_id)
        if room is not None:
            room.mix.discard(participant_id)
            room.muted.discard(participant_id)

    def speaker_unmute(self, *, room_id: int, participant_id: int) -> None:
        self._record("speaker_unmute", room_id=room_id, participant_id=participant_id)
        room = self.room_state.get(room_id)
        if room is not None:
            room.muted.discard(participant_id)

    def listeners_repin(self, *, room_id: int, pin: str) -> None:
        self._record("listeners_repin", room_id=room_id, pin=pin)
        if room_id in self.room_state:
            self.room_state[room_id].pin = pin

    def holder_of(self, *, session_id: int, handle_id: int) -> str | None:
        self._record("holder_of", session_id=session_id, handle_id=handle_id)
        return self.sessions.get(session_id)

    def session_end(self, *, session_id: int) -> None:
        self._record("session_end", session_id=session_id)
        self.sessions.pop(session_id, None)

    def revoke_sessions(self, *, holders: list[str]) -> int:
        self._record("revoke_sessions", holders=sorted(holders))
        ended = [session for session, holder in self.sessions.items() if holder in holders]
        for session in ended:
            del self.sessions[session]
        return len(ended)

    def rooms(self) -> Rooms:
        self._record("rooms")
        ids = frozenset(self.room_state)
        return Rooms(speakers=ids, listeners=ids)

    def credentials(self, *, room_id: int, pin: str, participant) -> dict:
        """As Janus's, with fake tokens; the TURN credentials are the real ones (``rooms.media.turn``)."""
        return browser_credentials(
            participant, room_id=room_id, pin=pin, server="", ws_port=0, token=lambda kind, holder: f"fake-{holder}"
        )

    # What a browser would do: join the mix with a secret, under an id, from a session opened
    # with credentials naming ``holder`` (the tests' speaker, honest or not); unmute themself.
    def join_mix(self, *, room_id: int, token: str, participant_id: int, session_id: int = 0, holder: str | None = None) -> None:
        room = self.room_state.get(room_id)
        if room is None or token not in room.allowed:
            raise MediaError("Not in the allowed list.", code=499)
        if participant_id in room.mix:
            raise MediaError("User ID exists.", code=490)
        room.mix.add(participant_id)
        if session_id:
            self.sessions[session_id] = holder

    def self_unmute(self, *, room_id: int, participant_id: int) -> None:
        self.room_state[room_id].muted.discard(participant_id)
