"""Every change to a Space and the people in it, one function each, split by capability:

- ``lifecycle``: create (live or scheduled), edit and reschedule, cancel, go live, end
- ``timekeeping``: what the clock does: start on time, mark missed, end abandoned Spaces
- ``attendance``: join, leave, presence that expires
- ``stage``: requests to speak and the host's and co-hosts' controls
- ``reactions``, ``recording`` (replays), ``media`` (the media server follows the database)

Each function locks what it must (``locks``: the Space row first, then participants), checks who
is asking and the rules, writes in a transaction, and publishes its event on commit. Callers
import them from here.
"""

from .access import is_host_or_staff, require_host_or_staff
from .attendance import (
    guest_arrive,
    guest_leave,
    guest_listen,
    presence_sweep,
    space_join,
    space_leave,
    space_presence_expire,
)
from .lifecycle import space_cancel, space_create, space_end, space_go_live, space_reschedule, space_update
from .locks import lock_participant, lock_space
from .media import (
    media_join_check,
    media_listeners_repin,
    media_reconcile,
    media_room_close,
    media_room_open,
    media_room_sync,
    media_sessions_revoke,
    media_speaker_unmute,
)
from .reactions import REACTIONS, reaction_send
from .recording import replays_expire, space_replay_attach, space_replay_delete, space_replay_encode
from .stage import (
    hand_lower,
    hand_raise,
    mic_set_self_muted,
    participant_remove,
    participant_set_muted,
    participant_set_role,
    participant_update,
    stage_mute_all,
)
from .pins import space_pin_link, space_unpin_link
from .timekeeping import (
    space_end_if_abandoned,
    space_mark_missed,
    space_start_scheduled,
    spaces_abandoned_end,
    spaces_due_sweep,
)

__all__ = [
    "mic_set_self_muted",
    "space_pin_link",
    "space_unpin_link",
    "stage_mute_all",
    "REACTIONS",
    "hand_lower",
    "hand_raise",
    "is_host_or_staff",
    "lock_participant",
    "lock_space",
    "media_reconcile",
    "media_room_close",
    "media_room_open",
    "media_join_check",
    "media_listeners_repin",
    "media_room_sync",
    "media_sessions_revoke",
    "media_speaker_unmute",
    "participant_remove",
    "participant_set_muted",
    "participant_set_role",
    "participant_update",
    "presence_sweep",
    "reaction_send",
    "replays_expire",
    "require_host_or_staff",
    "space_cancel",
    "space_create",
    "space_end",
    "space_end_if_abandoned",
    "space_go_live",
    "space_join",
    "space_leave",
    "space_mark_missed",
    "space_presence_expire",
    "guest_arrive",
    "guest_leave",
    "guest_listen",
    "space_replay_attach",
    "space_replay_encode",
    "space_replay_delete",
    "space_reschedule",
    "space_start_scheduled",
    "space_update",
    "spaces_abandoned_end",
    "spaces_due_sweep",
]
