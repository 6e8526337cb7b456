"""The speech-to-text engine and the audio plumbing in front of it.

PocketSphinx (the ``pocketsphinx`` wheel from PyPI ships its US English acoustic model, language
model and dictionary, so nothing is downloaded at run time) takes 16 kHz, 16-bit mono PCM. The
media server sends the mix as Opus in RTP at 48 kHz; ``OpusTo16k`` decodes it with PyAV's Opus
decoder and resamples it with libswresample (PyAV is already a dependency of the project).
"""

import av

RATE = 16000


def seconds(pcm: bytes) -> float:
    """How long ``pcm`` (16 kHz, 16-bit mono) lasts."""
    return len(pcm) / 2 / RATE


def engine_name() -> str:
    from importlib.metadata import version

    return f"PocketSphinx {version('pocketsphinx')} (en-us model from its wheel)"


def rtp_payload(packet: bytes) -> tuple[int, int, bytes] | None:
    """``(ssrc, sequence number, payload)`` of an RTP packet, or None if it is not one."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # header extension
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * int.from_bytes(packet[offset + 2:offset + 4], "big")
    end = len(packet)
    if packet[0] & 0x20:  # padding
        end -= packet[-1]
    if offset >= end:
        return None
    return int.from_bytes(packet[8:12], "big"), int.from_bytes(packet[2:4], "big"), packet[offset:end]


class OpusTo16k:
    """Opus packets in, 16 kHz mono 16-bit PCM out."""

    def __init__(self):
        self.decoder = av.CodecContext.create("opus", "r")
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)

    def decode(self, payload: bytes) -> bytes:
        out = []
        for frame in self.decoder.decode(av.Packet(payload)):
            for resampled in self.resampler.resample(frame):
                out.append(bytes(resampled.planes[0])[: resampled.samples * 2])
        return b"".join(out)


class Recogniser:
    """One utterance at a time: ``start``, ``feed`` PCM, ``partial`` as it goes, ``finish``."""

    def __init__(self):
        from pocketsphinx import Config, Decoder

        self.decoder = Decoder(Config(samprate=RATE, loglevel="FATAL"))
        self.busy = False

    def start(self) -> None:
        self.decoder.start_utt()
        self.busy = True

    def feed(self, pcm: bytes) -> None:
        if pcm:
            self.decoder.process_raw(pcm, False, False)

    def partial(self) -> str:
        """The words so far (the utterance goes on)."""
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp else ""

    def finish(self) -> str:
        if not self.busy:
            return ""
        self.decoder.end_utt()
        self.busy = False
        return self.partial()  # once the utterance ended: its final words


def transcribe(pcm: bytes) -> str:
    """All of ``pcm`` (16 kHz mono) as one utterance: the benchmark's offline floor."""
    recogniser = Recogniser()
    recogniser.start()
    recogniser.feed(pcm)
    return recogniser.finish()
