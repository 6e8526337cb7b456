"""Mouth-to-ear latency, speaker → AudioBridge → rtp_forward → Streaming → listener, and Janus's
CPU per listener.

One headless Chromium holds both pages, so both read one clock (``performance.timeOrigin +
performance.now()``). The speaker's "microphone" is a WebAudio oscillator that beeps every
second; the listener's page detects each beep's onset in what it plays. Then K listener pages
watch the mountpoint while Janus's CPU time is sampled from /proc.

    .venv/bin/python bench/audio_latency.py --beeps 15 --listeners 1 5 10 20
"""

import argparse
import statistics
import time

from stack import CHROMIUM, CHROMIUM_ARGS, PASSWORD, Stack, pct, speaker_and_listener  # the stack also puts the project on the path
from tests.processes import cpu_seconds

# The speaker's microphone: an oscillator gated into 80 ms beeps once a second; emission times kept.
BEEPING_MICROPHONE = """
(() => {
  window.__beeps = [];
  navigator.mediaDevices.getUserMedia = async () => {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator(); osc.frequency.value = 1000;
    const gain = ctx.createGain(); gain.gain.value = 0;
    const out = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(out); osc.start();
    setInterval(() => {
      const at = ctx.currentTime + 0.02;
      gain.gain.setValueAtTime(0.8, at); gain.gain.setValueAtTime(0, at + 0.08);
      window.__beeps.push(performance.timeOrigin + performance.now() + 20);
    }, 1000);
    return out.stream;
  };
})();
"""

# On the listener: onsets of sound after silence, in the same clock.
ONSET_DETECTOR = """() => {
  window.__onsets = [];
  const audio = document.getElementById('audio');
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser(); analyser.fftSize = 256;
  ctx.createMediaStreamSource(audio.srcObject).connect(analyser);
  const buffer = new Float32Array(analyser.fftSize);
  let loud = false;
  setInterval(() => {
    analyser.getFloatTimeDomainData(buffer);
    let peak = 0; for (const v of buffer) peak = Math.max(peak, Math.abs(v));
    if (!loud && peak > 0.1) { loud = true; window.__onsets.push(performance.timeOrigin + performance.now()); }
    if (loud && peak < 0.02) loud = false;
  }, 2);
}"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--beeps", type=int, default=15)
    parser.add_argument("--listeners", type=int, nargs="+", default=[1, 5, 10, 20])
    args = parser.parse_args()
    latencies, curve = [], []
    with Stack("audio", rtp_base=40000, broker_db=14) as stack:
        stack.start()
        from django.contrib.auth import get_user_model
        from playwright.sync_api import sync_playwright

        from rooms import services

        base = stack.base
        host = get_user_model().objects.create_user("bench_host", password=PASSWORD)
        space = services.space_create(host=host, title="Latency")
        janus_pid = stack.janus_pid()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            speaker, listener = speaker_and_listener(browser, base, space.code, "bench_host", BEEPING_MICROPHONE)
            listener.evaluate(ONSET_DETECTOR)
            listener.wait_for_timeout(2000)
            start = speaker.evaluate("performance.timeOrigin + performance.now()")
            listener.wait_for_timeout(args.beeps * 1000 + 1000)
            beeps = [b for b in speaker.evaluate("window.__beeps") if b >= start]
            onsets = listener.evaluate("window.__onsets")
            for beep in beeps[:-1]:
                following = [o - beep for o in onsets if 0 < o - beep < 900]
                if following:
                    latencies.append(min(following))

            pages = []
            for count in sorted(args.listeners):
                while len(pages) < count:
                    page = browser.new_page()
                    page.goto(f"{base}/s/{space.code}/")
                    page.click("#listen")
                    pages.append(page)
                for page in pages:
                    page.wait_for_function("document.getElementById('audio').srcObject", timeout=60000)
                time.sleep(2)
                before = cpu_seconds(janus_pid)
                time.sleep(10)
                curve.append((count, (cpu_seconds(janus_pid) - before) / 10 * 100))
            browser.close()

    command = f".venv/bin/python bench/audio_latency.py --beeps {args.beeps} --listeners {' '.join(map(str, args.listeners))}"
    print(f"Command: `{command}`\n")
    print("| beeps heard | mouth-to-ear p50 ms | p95 ms | min ms | max ms | target p50/p95 ≤ 250 ms |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    if latencies:
        ok = "PASS" if pct(latencies, 0.95) <= 250 else "FAIL"
        print(f"| {len(latencies)} | {statistics.median(latencies):.0f} | {pct(latencies, 0.95):.0f} | {min(latencies):.0f} | {max(latencies):.0f} | {ok} |")
    else:
        print("| 0 | - | - | - | - | FAIL |")
    print("\n| listeners | Janus CPU % of one core | per listener |")
    print("| ---: | ---: | ---: |")
    for count, cpu in curve:
        print(f"| {count} | {cpu:.1f} | {cpu / count:.2f} |")


if __name__ == "__main__":
    main()
