"""Live captions, measured: word error rate of the engine on espeak-ng speech, delay from speech
to caption on a listener's screen, and the captions worker's CPU per captioned speaker.

1. Offline floor: each fixed sentence spoken by espeak-ng (``-s 150``, en-us), 16 kHz, straight
   into the recogniser; then the same through Opus at 48 kHz and back (the codec path of the mix).
2. Live: Janus, daphne, a Celery worker and the captions worker (``manage.py captions_worker``)
   on a database of the bench's own. One headless Chromium holds the speaker's page (the host,
   consenting, captions on) and a listener's page, so both read one clock. The speaker's
   "microphone" is WebAudio playing the same sentences one after another, each start and end
   noted; the listener's page notes when each ``caption`` frame arrives. Word error rate of what
   was kept against what was said, and the captions worker's CPU time over the run.

    .venv/bin/python bench/captions.py --rounds 2
"""

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stack import CHROMIUM, CHROMIUM_ARGS, PASSWORD, Stack, pct, speaker_and_listener  # the stack also puts the project on the path
from tests.processes import cpu_seconds, free_port

SENTENCES = [
    "welcome to the show",
    "the meeting starts at ten o'clock",
    "good morning everyone",
    "the weather today is sunny",
    "thank you very much",
    "we will meet tomorrow morning",
    "hello and welcome to our space",
    "this is a test of live captions",
    "one two three four five six seven",
    "please raise your hand to speak",
]
GAP = 2.5  # seconds of silence after each sentence

# The speaker's microphone: WebAudio playing the sentences (WAV, base64) in turn; times kept.
SPEAKING_MICROPHONE = """
(() => {
  window.__said = [];
  navigator.mediaDevices.getUserMedia = async () => {
    const ctx = new AudioContext({ sampleRate: 48000 });
    const out = ctx.createMediaStreamDestination();
    window.__speak = async (clips, gap) => {
      const buffers = [];
      for (const b64 of clips) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        buffers.push(await ctx.decodeAudioData(bytes.buffer));
      }
      let at = ctx.currentTime + 0.5;
      const clock = performance.timeOrigin + performance.now() - ctx.currentTime * 1000;
      buffers.forEach((buffer, i) => {
        const source = ctx.createBufferSource();
        source.buffer = buffer; source.connect(out); source.start(at);
        window.__said.push({ i, start: clock + at * 1000, end: clock + (at + buffer.duration) * 1000 });
        at += buffer.duration + gap;
      });
      return (at - ctx.currentTime) * 1000;
    };
    return out.stream;
  };
})();
"""

CAPTION_LOG = """() => {
  window.__captions = [];
  document.getElementById('room').addEventListener('spaces:frame', (event) => {
    const f = event.detail;
    if (f.type === 'caption') window.__captions.push({ at: performance.timeOrigin + performance.now(), final: f.data.final, text: f.data.text, start: f.data.start });
  });
}"""


def words(text: str) -> list[str]:
    return text.lower().replace(".", " ").replace(",", " ").split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)]


def wer(pairs) -> float:
    errors = sum(edit_distance(words(ref), words(hyp)) for ref, hyp in pairs)
    return errors / sum(len(words(ref)) for ref, _ in pairs)


def espeak(sentence: str, rate: int) -> bytes:
    wav = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", sentence], capture_output=True, check=True).stdout
    return subprocess.run(["sox", "-D", "-t", "wav", "-", "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed", "-t", "raw", "-"],
                          input=wav, capture_output=True, check=True).stdout


def opus_round_trip(pcm48: bytes) -> bytes:
    import av

    from captions.engine import OpusTo16k

    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "mono", "s16"
    decoder, out = OpusTo16k(), []
    for offset in range(0, len(pcm48) - 1920 + 1, 1920):
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.sample_rate, frame.pts = 48000, offset // 2
        frame.planes[0].update(pcm48[offset:offset + 1920])
        out += [decoder.decode(bytes(packet)) for packet in encoder.encode(frame)]
    return b"".join(out)


def offline():
    from captions.engine import transcribe

    direct, coded, cpu, audio = [], [], 0.0, 0.0
    for sentence in SENTENCES:
        pcm16 = espeak(sentence, 16000)
        started = time.process_time()
        direct.append((sentence, transcribe(pcm16)))
        cpu += time.process_time() - started
        audio += len(pcm16) / 32000
        coded.append((sentence, transcribe(opus_round_trip(espeak(sentence, 48000)))))
    return direct, coded, cpu / audio


def live(rounds: int):
    with Stack("captions", rtp_base=41000, broker_db=13, env={"CAPTIONS_PORT": str(free_port())}) as stack:
        stack.start()
        handle, name = tempfile.mkstemp(prefix="bench-captions-worker-", suffix=".log")
        os.close(handle)
        worker_log = Path(name)
        captions_worker = stack.spawn([sys.executable, "manage.py", "captions_worker"], env={"LOG_LEVEL": "INFO"}, log=worker_log)
        from django.contrib.auth import get_user_model
        from playwright.sync_api import sync_playwright

        from captions import services as caption_services
        from captions.models import CaptionConsent, CaptionSegment
        from rooms import services

        base = stack.base
        host = get_user_model().objects.create_user("bench_host", password=PASSWORD)
        space = services.space_create(host=host, title="Captions")
        CaptionConsent.objects.create(user=host)
        caption_services.captions_set(space=space, actor=host, on=True)
        clips = [base64.b64encode(subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", s],
                                                 capture_output=True, check=True).stdout).decode() for s in SENTENCES]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            speaker, listener = speaker_and_listener(browser, base, space.code, "bench_host", SPEAKING_MICROPHONE)
            listener.evaluate(CAPTION_LOG)
            time.sleep(3)
            cpu_before, wall_before = cpu_seconds(captions_worker.pid), time.monotonic()
            said = []
            for _ in range(rounds):
                duration = speaker.evaluate("([clips, gap]) => window.__speak(clips, gap)", [clips, GAP])
                time.sleep(duration / 1000 + 1.0)
                said = speaker.evaluate("window.__said")
            time.sleep(3)
            busy = cpu_seconds(captions_worker.pid) - cpu_before
            wall = time.monotonic() - wall_before
            captions = listener.evaluate("window.__captions")
            spoken = sum(s["end"] - s["start"] for s in said) / 1000
            time.sleep(2)
            cpu_idle_before = cpu_seconds(captions_worker.pid)
            time.sleep(10)
            idle = (cpu_seconds(captions_worker.pid) - cpu_idle_before) / 10
            kept = list(CaptionSegment.objects.filter(space=space).values_list("text", flat=True))
            space.refresh_from_db()
            started_ms = space.started_at.timestamp() * 1000
            browser.close()
    # Each caption frame belongs to the sentence said nearest to where its utterance starts (the
    # frame's `start`, seconds since the Space started: the browser and the server share a clock).
    firsts, finals = [], []
    mine = {n: [] for n in range(len(said))}
    for c in captions:
        onset = started_ms + c["start"] * 1000
        n = min(range(len(said)), key=lambda k: abs(said[k]["start"] - onset))
        if abs(said[n]["start"] - onset) < 1500:
            mine[n].append(c)
    for n, s in enumerate(said):
        if mine[n]:
            firsts.append(min(c["at"] for c in mine[n]) - s["start"])
        final = [c["at"] for c in mine[n] if c["final"]]
        if final:
            finals.append(min(final) - s["end"])
    stats = [line.split("stopped: ", 1)[1].strip() for line in worker_log.read_text().splitlines() if "stopped: " in line]
    worker_log.unlink(missing_ok=True)
    reference = " ".join(SENTENCES * rounds)
    return {"firsts": firsts, "finals": finals, "said": len(said), "kept": kept, "wer": wer([(reference, " ".join(kept))]),
            "stats": stats, "busy": busy, "wall": wall, "spoken": spoken * rounds / max(1, rounds) if said else 0.0, "idle": idle}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2, help="times the speaker says the sentences live")
    parser.add_argument("--detail", action="store_true", help="print each kept caption and each delay")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
    from captions.engine import engine_name

    direct, coded, rtf = offline()
    result = live(args.rounds)
    print(f"Command: `.venv/bin/python bench/captions.py --rounds {args.rounds}`\n")
    print(f"Engine: {engine_name()}; speech: espeak-ng {subprocess.run(['espeak-ng', '--version'], capture_output=True, text=True).stdout.split()[3]} en-us, 150 words a minute, {len(SENTENCES)} sentences, {sum(len(words(s)) for s in SENTENCES)} words.\n")
    print("| word error rate | offline, 16 kHz straight in | through Opus and back | live, through Janus (kept captions) |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| all sentences | {wer(direct):.0%} | {wer(coded):.0%} | {result['wer']:.0%} |\n")
    print("| sentence | offline hypothesis |")
    print("| --- | --- |")
    for ref, hyp in direct:
        print(f"| {ref} | {hyp} |")
    firsts, finals = result["firsts"], result["finals"]
    print(f"\nLive: {result['said']} sentences said, {len(firsts)} with a caption, {len(finals)} with a final caption; kept: {len(result['kept'])} segments.")
    print(f"Worker: {'; '.join(result['stats']) or 'no statistics logged'}.\n")
    if args.detail:
        print("| said | kept |\n| --- | --- |")
        for n, text in enumerate(result["kept"]):
            print(f"| {SENTENCES[n % len(SENTENCES)] if n < len(SENTENCES) * args.rounds else ''} | {text} |")
        print(f"\nfirst words ms: {[round(x) for x in firsts]}\nfinal ms: {[round(x) for x in finals]}\n")
    print("| delay, listener's screen | p50 ms | p95 ms | max ms | target p95 ≤ 3000 ms |")
    print("| --- | ---: | ---: | ---: | --- |")
    if firsts:
        print(f"| start of a sentence → its first words | {statistics.median(firsts):.0f} | {pct(firsts, .95):.0f} | {max(firsts):.0f} | {'PASS' if pct(firsts, .95) <= 3000 else 'FAIL'} |")
    if finals:
        print(f"| end of a sentence → its final caption | {statistics.median(finals):.0f} | {pct(finals, .95):.0f} | {max(finals):.0f} | {'PASS' if pct(finals, .95) <= 3000 else 'FAIL'} |")
    busy_share = result["busy"] / result["wall"]
    talk_share = result["spoken"] / result["wall"] if result["wall"] else 0
    print("\n| captions worker CPU | % of one core |")
    print("| --- | ---: |")
    print(f"| one captioned Space, idle (decoding the mix, nobody talking) | {result['idle'] * 100:.1f} |")
    print(f"| one captioned speaker talking {talk_share:.0%} of the time | {busy_share * 100:.1f} |")
    print(f"| recogniser alone, per second of speech (offline real-time factor) | {rtf * 100:.1f} |")
    continuous = result["idle"] + rtf
    print(f"\nOne core carries about {1 / busy_share:.0f} captioned Spaces with one speaker talking as above, "
          f"or {1 / continuous:.0f} with someone talking all the time (idle decoding + recogniser).")


if __name__ == "__main__":
    main()
