"""Consent gating and utterances, pure (no I/O): which moments of a Space's mix may be transcribed,
and how the audio that may is cut into utterances.

The worker hears one mix per Space, not each speaker, so who is talking comes from the media
server's talking notices (kept in Redis by ``rooms.presence``), which it samples several times a
second. Those notices lag the voice (the media server averages the audio level over
``audio_active_packets`` packets first), so every chunk of audio is held ``hold`` seconds before
its fate is decided, long enough for the notices about that moment to have arrived. A chunk at
time ``t`` is transcribed only if

- no sample in ``[t - guard, t + hold]`` shows anyone talking who has not consented, or is
  unknown (Redis did not answer); and
- some sample in ``[t - tail, t + hold]`` shows a consenting speaker talking.

Anything else is dropped on the spot: it is never kept nor given to the recogniser. Consecutive
chunks that pass make one utterance, attributed to the consenting speakers seen talking during it;
an utterance is also cut after ``max_seconds`` so that captions keep coming during a long talk.
"""

from collections import deque
from dataclasses import dataclass, field

# Janus judges talking over windows of ``audio_active_packets`` (25: 0.5 s) packets, on their
# average level, so a voice is noticed one to two windows after it starts; then the event's trip
# through Django and Redis, and the worker's sampling (0.1 s).
HOLD = 1.2
GUARD = 0.6
TAIL = 0.3
MAX_SECONDS = 8.0
KEEP_SAMPLES = 10.0  # seconds of samples remembered (more than any window above)


@dataclass(frozen=True)
class Sample:
    at: float
    consenting: frozenset  # uids of consenting speakers talking
    blocked: bool  # someone talking who has not consented, or nobody knows (Redis down)


class Gate:
    """Who was talking when, sampled; and the decision for each moment of audio."""

    def __init__(self, *, hold: float = HOLD, guard: float = GUARD, tail: float = TAIL):
        self.hold, self.guard, self.tail = hold, guard, tail
        self.samples: deque[Sample] = deque()

    def observe(self, at: float, talking: set[str] | None, consent: dict[str, bool]) -> None:
        """A sample: ``talking`` uids at ``at`` (None: unknown), ``consent`` uid -> consented.
        Someone talking who is not in ``consent`` (not on stage any more, say) has not consented."""
        if talking is None:
            sample = Sample(at, frozenset(), True)
        else:
            sample = Sample(at, frozenset(u for u in talking if consent.get(u)), any(not consent.get(u) for u in talking))
        self.samples.append(sample)
        while self.samples and self.samples[0].at < at - KEEP_SAMPLES:
            self.samples.popleft()

    def ready(self, t: float, now: float) -> bool:
        """Is the fate of audio at ``t`` known (its hold is over and a sample came after it)?"""
        return now >= t + self.hold and bool(self.samples) and self.samples[-1].at >= t + self.hold

    def decide(self, t: float) -> frozenset:
        """The consenting uids audio at ``t`` is attributed to; empty: drop it."""
        speakers: set[str] = set()
        for sample in self.samples:
            if t - self.guard <= sample.at <= t + self.hold and sample.blocked:
                return frozenset()
            if t - self.tail <= sample.at <= t + self.hold:
                speakers |= sample.consenting
        return frozenset(speakers)


@dataclass
class Utterance:
    start: float
    end: float
    speakers: set = field(default_factory=set)
    chunks: int = 0
    ended_by: str = ""  # "gate" (the audio after it was dropped), "longest", or what ``flush`` was told


class Segmenter:
    """Cuts decided audio into utterances. ``push`` returns what happened, in order:
    ``("start", utterance)``, ``("audio", pcm)``, ``("end", utterance)``."""

    def __init__(self, *, max_seconds: float = MAX_SECONDS):
        self.max_seconds = max_seconds
        self.current: Utterance | None = None

    def push(self, t: float, duration: float, speakers: frozenset, pcm: bytes) -> list[tuple]:
        out = []
        if not speakers:
            if self.current is not None:
                self.current.ended_by = "gate"
                out.append(("end", self.current))
                self.current = None
            return out
        if self.current is not None and t + duration - self.current.start > self.max_seconds:
            self.current.ended_by = "longest"
            out.append(("end", self.current))
            self.current = None
        if self.current is None:
            self.current = Utterance(start=t, end=t)
            out.append(("start", self.current))
        self.current.speakers |= speakers
        self.current.end = t + duration
        self.current.chunks += 1
        out.append(("audio", pcm))
        return out

    def flush(self, reason: str = "flush") -> list[tuple]:
        if self.current is None:
            return []
        done, self.current = self.current, None
        done.ended_by = reason
        return [("end", done)]


def webvtt(segments) -> str:
    """A WebVTT file of caption segments (objects with ``start``, ``end``, ``speaker_name`` and
    ``text``): one cue each, the speaker as a voice span."""
    lines = ["WEBVTT", ""]
    for number, segment in enumerate(segments, 1):
        end = max(segment.end, segment.start + 0.5)
        lines += [str(number), f"{_stamp(segment.start)} --> {_stamp(end)}",
                  f"<v {_escape(segment.speaker_name)}>{_escape(segment.text)}", ""]
    return "\n".join(lines)


def _stamp(seconds: float) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _escape(text: str) -> str:
    # WebVTT cue text: & < > are markup; "-->" cannot appear; a name ends at ">".
    return " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())
