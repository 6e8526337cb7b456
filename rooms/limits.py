"""The product's limits, each written once: models, forms, serializers, services and pages read
them from here (the database constraints too, through the models)."""

from datetime import timedelta

TITLE_MAX = 70
DESCRIPTION_MAX = 280
# A Space is scheduled in the future and at most this far after the moment it was set.
SCHEDULE_AHEAD_MAX = timedelta(days=14)
# Defaults of the settings SPACES_MAX_SPEAKERS and SPACES_MAX_COHOSTS (service-side limits).
SPEAKERS_MAX = 13  # speaking roles at once, host and co-hosts included
COHOSTS_MAX = 2
# A pinned link: its address and its optional label (rooms.services.pins).
PIN_URL_MAX = 500
PIN_LABEL_MAX = 80

# Reactions a socket may send: this many a second on average, and a burst of this many at once.
# The burst is what keeps a compliant client safe: the server reads a socket's frames when it gets
# to them, so frames sent evenly can be handled in a clump after a pause of the server's own
# (a busy thread pool, a slow publish). Counting them against a 1 s window at the moment they are
# handled punished a client that sent 4.5 a second (docs/REALTIME.md, "From the client").
REACTIONS_PER_SECOND = 5
REACTIONS_BURST = 15


class Allowance:
    """A token bucket: ``take()`` is True while the average stays within ``rate`` per second with
    bursts of up to ``burst``. What it counts is what the client sent (every frame, over the time
    the socket has been sending), not how closely together the server happened to handle them."""

    def __init__(self, rate: float, burst: int, *, now: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
