"""An in-memory media server that records every call: the tests' stand-in for Janus.

State is per process and shared by every instance (``FakeMediaServer.reset()`` clears it), so a
test can read what the services made the media server do, and in what state they left it.
"""

import threading
from dataclasses import dataclass, field

from . import MediaError, Rooms


@dataclass
class FakeRoom:
    allowed: set[str] = field(default_factory=set)
    # Participant ids in the mix, and those muted by the server.
    mix: set[int] = field(default_factory=set)
    muted: set[int] = field(default_factory=set)
    record_file: str | None = None


class FakeMediaServer:
    calls: list[tuple[str, dict]] = []
    room_state: dict[int, FakeRoom] = {}
    # Set to make every call fail, as an unreachable server would.
    failing: bool = False
    _lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.calls.clear()
            cls.room_state.clear()
            cls.failing = False

    @classmethod
    def call_names(cls) -> list[str]:
        return [name for name, _ in cls.calls]

    def _record(self, name: str, **kwargs) -> None:
        with self._lock:
            self.calls.append((name, kwargs))
        if self.failing:
            raise MediaError("The fake media server is failing on purpose.")

    def room_open(self, *, room_id: int, allowed: list[str], record_file: str | None = None) -> None:
        self._record("room_open", room_id=room_id, allowed=sorted(allowed), record_file=record_file)
        room = self.room_state.setdefault(room_id, FakeRoom(record_file=record_file))
        room.allowed |= set(allowed)

    def room_close(self, *, room_id: int) -> None:
        self._record("room_close", room_id=room_id)
        self.room_state.pop(room_id, None)

    def speaker_grant(self, *, room_id: int, token: str) -> None:
        self._record("speaker_grant", room_id=room_id, token=token)
        if room_id in self.room_state:
            self.room_state[room_id].allowed.add(token)

    def speaker_revoke(self, *, room_id: int, token: str, participant_id: int) -> None:
        self._record("speaker_revoke", room_id=room_id, token=token, participant_id=participant_id)
        room = self.room_state.get(room_id)
        if room is not None:
            room.allowed.discard(token)
            room.mix.discard(participant_id)
            room.muted.discard(participant_id)

    def speaker_mute(self, *, room_id: int, participant_id: int, muted: bool) -> None:
        self._record("speaker_mute", room_id=room_id, participant_id=participant_id, muted=muted)
        room = self.room_state.get(room_id)
        if room is not None and participant_id in room.mix:
            (room.muted.add if muted else room.muted.discard)(participant_id)

    def rooms(self) -> Rooms:
        self._record("rooms")
        ids = frozenset(self.room_state)
        return Rooms(speakers=ids, listeners=ids)

    def credentials(self, *, room_id: int, participant) -> dict:
        common = {"server": "", "ws_port": 0, "room": room_id}
        if participant.is_speaking_role and participant.media_token:
            return common | {
                "kind": "speaker",
                "token": f"fake-speaker-{room_id}",
                "participant_token": participant.media_token,
                "participant_id": participant.pk,
                "display": participant.uid,
                "muted": participant.muted,
            }
        return common | {"kind": "listener", "token": f"fake-listener-{room_id}", "mountpoint": room_id}

    # What a browser would do: join the mix with a token (the tests' speaker).
    def join_mix(self, *, room_id: int, token: str, participant_id: int) -> None:
        room = self.room_state.get(room_id)
        if room is None or token not in room.allowed:
            raise MediaError("Not in the allowed list.", code=499)
        room.mix.add(participant_id)
