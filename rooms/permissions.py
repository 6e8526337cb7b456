"""Who may do what to whom in a live Space: the one place these rules are written.

Services call ``check`` before they change a role, mute or remove someone; the snapshot tells
each viewer which actions they may take on each kind of person (``actions_by_kind``), computed by
the same ``check``, so the room page offers exactly what the server will accept.

A person's *kind* is their role, except that a signed-out listener is a ``guest`` (guests only
listen). Rules here look at roles and identity only; rules about the moment (is the Space live, is
the person present, is the stage full) stay in the services, which hold the locks.
"""

from dataclasses import dataclass

from .errors import Conflict, NotPermitted
from .models import Participant

Role = Participant.Role

INVITE_TO_SPEAK = "invite_to_speak"
MOVE_TO_LISTENERS = "move_to_listeners"
MUTE = "mute"  # and unmute
MAKE_COHOST = "make_cohost"
REMOVE_COHOST = "remove_cohost"
DECLINE = "decline"  # answer a raised hand with no
REMOVE = "remove"
BLOCK = "block"  # remove, and keep out of this Space

ACTIONS = (INVITE_TO_SPEAK, MOVE_TO_LISTENERS, MUTE, MAKE_COHOST, REMOVE_COHOST, DECLINE, REMOVE, BLOCK)
GUEST = "guest"
KINDS = (Role.HOST, Role.COHOST, Role.SPEAKER, Role.LISTENER, GUEST)

# Role changes, by the role a person moves from and to.
_ROLE_ACTIONS = {
    (Role.LISTENER, Role.SPEAKER): INVITE_TO_SPEAK,
    (Role.LISTENER, Role.COHOST): MAKE_COHOST,
    (Role.SPEAKER, Role.COHOST): MAKE_COHOST,
    (Role.SPEAKER, Role.LISTENER): MOVE_TO_LISTENERS,
    (Role.COHOST, Role.LISTENER): MOVE_TO_LISTENERS,
    (Role.COHOST, Role.SPEAKER): REMOVE_COHOST,
    (Role.LISTENER, Role.LISTENER): DECLINE,
}
_NEEDS_ACCOUNT = (INVITE_TO_SPEAK, MAKE_COHOST, DECLINE)


@dataclass(frozen=True)
class Seat:
    """What the rules look at: a role, whether the person is signed in, and who they are."""

    role: str
    signed_in: bool
    key: object = None
    name: str = ""

    @classmethod
    def of(cls, participant: Participant) -> "Seat":
        return cls(participant.role, participant.user_id is not None, participant.pk, participant.display_name)

    @property
    def kind(self) -> str:
        return GUEST if self.role == Role.LISTENER and not self.signed_in else self.role


def role_change_action(current: str, new: str) -> str | None:
    """The action that moves someone from ``current`` to ``new`` (None: they are already there)."""
    return _ROLE_ACTIONS.get((current, new))


def check(action: str, *, actor: Seat | None, target: Seat) -> None:
    """Raise ``NotPermitted`` or ``Conflict`` (with a stable code) unless ``actor`` may take
    ``action`` on ``target``."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}")
    if actor is None or actor.role not in Participant.STAFF_ROLES:
        raise NotPermitted("Only the host and co-hosts can do that.")
    is_host = actor.role == Role.HOST
    name = target.name or "That person"
    if action == MUTE:
        if target.role not in Participant.SPEAKING_ROLES:
            raise Conflict(f"{name} is not on the stage.", code="not_speaking")
        if target.role in Participant.STAFF_ROLES and not is_host and target.key != actor.key:
            raise NotPermitted("Co-hosts cannot mute the host or another co-host.", code="host_only")
        return
    if target.role == Role.HOST:
        what = "removed" if action in (REMOVE, BLOCK) else "moved off the host's seat"
        raise NotPermitted(f"The host cannot be {what}.", code="host_role_fixed")
    if action in (REMOVE, BLOCK):
        if target.key is not None and target.key == actor.key:
            raise Conflict("Use leave to step out of the Space yourself.", code="cannot_remove_self")
        if target.role == Role.COHOST and not is_host:
            raise NotPermitted("Co-hosts cannot remove each other.", code="host_only")
        return
    if (action in (MAKE_COHOST, REMOVE_COHOST) or target.role == Role.COHOST) and not is_host:
        raise NotPermitted("Only the host appoints and revokes co-hosts.", code="host_only")
    if (target.role, action) not in {(old, act) for (old, _), act in _ROLE_ACTIONS.items()}:
        raise Conflict(f"{name} is a {target.role}; that does not apply.", code="invalid_role_change")
    if action in _NEEDS_ACCOUNT and not target.signed_in:
        raise Conflict("Signed-out listeners cannot speak; ask them to sign in first.", code="sign_in_to_speak")


def allowed(action: str, *, actor: Seat | None, target: Seat) -> bool:
    try:
        check(action, actor=actor, target=target)
    except (NotPermitted, Conflict):
        return False
    return True


# What a full stage (or a full set of co-hosts) takes off the menu, by the kind of person.
_NEED_A_STAGE_SEAT = {Role.LISTENER: (INVITE_TO_SPEAK, MAKE_COHOST), GUEST: (INVITE_TO_SPEAK, MAKE_COHOST)}
_NEED_A_COHOST_SEAT = (MAKE_COHOST,)


def actions_by_kind(actor: Seat | None, *, stage_full: bool = False, cohosts_full: bool = False) -> dict[str, list[str]]:
    """For each kind of person, the actions ``actor`` may take on someone of that kind (never on
    themself: the viewer's own controls are separate), at this moment: with the stage full nobody
    is invited up, with every co-host seat taken nobody is appointed. The page keeps these two
    up to date itself from the stage it is shown (``stage_limit``, ``cohost_limit``)."""
    can = _actions_by_kind(actor)
    for kind, actions in can.items():
        taken = (_NEED_A_STAGE_SEAT.get(kind, ()) if stage_full else ()) + (_NEED_A_COHOST_SEAT if cohosts_full else ())
        can[kind] = [action for action in actions if action not in taken]
    return can


def _actions_by_kind(actor: Seat | None) -> dict[str, list[str]]:
    return {
        kind: [
            action
            for action in ACTIONS
            if allowed(
                action,
                actor=actor,
                target=Seat(Role.LISTENER if kind == GUEST else kind, kind != GUEST, key=object()),
            )
        ]
        for kind in KINDS
    }
