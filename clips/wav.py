"""Reading the tail of a WAV file that is still being written.

The media server writes the mix as it goes: the header's sizes stay at their first values until
the room closes, so the audio's length is the file's size past the ``data`` chunk's header, and
the format (rate, channels, sample size) comes from the ``fmt`` chunk."""

import struct
from dataclasses import dataclass
from pathlib import Path


class NotAWav(ValueError):
    pass


@dataclass(frozen=True)
class WavFormat:
    rate: int
    channels: int
    bits: int
    data_offset: int  # where the samples start

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8

    @property
    def byte_rate(self) -> int:
        return self.rate * self.block_align


def read_format(path: Path) -> WavFormat:
    """The format of a PCM WAV file and where its samples start; ``NotAWav`` otherwise."""
    with path.open("rb") as file:
        head = file.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise NotAWav(f"{path.name} is not a WAV file")
        fmt = None
        while True:
            chunk = file.read(8)
            if len(chunk) < 8:
                raise NotAWav(f"{path.name} has no audio yet")
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                if fmt is None:
                    raise NotAWav(f"{path.name} has no format chunk")
                return WavFormat(*fmt, data_offset=file.tell())
            body = file.read(size + (size & 1))
            if name == b"fmt ":
                tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                # 1: integer PCM; 0xFFFE: the extensible header, PCM in every recorder we meet.
                if tag not in (1, 0xFFFE) or bits not in (8, 16, 24, 32) or not channels or not rate:
                    raise NotAWav(f"{path.name} is not PCM audio")
                fmt = (rate, channels, bits)


def audio_bytes(path: Path, fmt: WavFormat) -> int:
    """How many bytes of whole sample frames the file holds now."""
    held = max(0, path.stat().st_size - fmt.data_offset)
    return held - held % fmt.block_align


def read_window(path: Path, fmt: WavFormat, *, end: int, seconds: float) -> tuple[bytes, float]:
    """The samples of the ``seconds`` before byte ``end`` of the audio (fewer if the recording is
    shorter), and where they start, in seconds from the start of the recording."""
    length = int(seconds * fmt.rate) * fmt.block_align
    start = max(0, end - length)
    with path.open("rb") as file:
        file.seek(fmt.data_offset + start)
        pcm = file.read(end - start)
    pcm = pcm[: len(pcm) - len(pcm) % fmt.block_align]
    return pcm, start / fmt.byte_rate
