"""Lifecycle hooks that ``rooms`` fires for the apps built around it.

``rooms`` owns a Space's whole life and imports no other app of the project; apps that react to
that life (``scheduling``: reminders and notifications) connect receivers here. Every signal is
sent inside the transaction that made the change, with the Space locked: a receiver that writes
rows writes them in the same transaction (they commit or roll back with the change), and a
receiver that talks to the outside world defers that to ``transaction.on_commit``.
"""

from django.dispatch import Signal

# A scheduled or new Space went live. ``space``; ``by_schedule``: started by the scheduler
# rather than its host.
space_went_live = Signal()

# A scheduled Space's start was missed by more than the late limit. ``space``.
space_missed = Signal()

# A scheduled Space was cancelled. ``space``.
space_cancelled = Signal()

# A live Space ended. ``space``; ``reason``: "host", "abandoned" (no host or co-host for
# SPACES_HOST_GRACE) or "host_never_came" (started by the schedule, host absent for
# SPACES_HOST_NEVER_CAME); ``limit``: the timedelta that ran out, for the last two.
space_ended = Signal()

# A Space's replay is gone: it expired (SPACES_REPLAY_DAYS) or its host deleted it. ``space``;
# ``reason``: "expired" or "deleted". What was cut from the recording (clips) goes with it.
replay_removed = Signal()
