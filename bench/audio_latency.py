"""Mouth-to-ear latency, speaker → AudioBridge → rtp_forward → Streaming → listener, and Janus's
CPU per listener.

One headless Chromium holds both pages, so both read one clock (``performance.timeOrigin +
performance.now()``). The speaker's "microphone" is a WebAudio oscillator that beeps every
second; the listener's page detects each beep's onset in what it plays. Then K listener pages
watch the mountpoint while Janus's CPU time is sampled from /proc.

    .venv/bin/python bench/audio_latency.py --beeps 15 --listeners 1 5 10 20
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import cpu_seconds, free_port  # noqa: E402

DB_NAME = "bench_audio"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
    "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
]

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
    for sql in (f"drop database if exists {DB_NAME}", f"create database {DB_NAME}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, capture_output=True)
    web_port, http_port, ws_port, admin_port = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "SPACES_PORT": str(web_port), "JANUS_HTTP_PORT": str(http_port), "JANUS_WS_PORT": str(ws_port),
        "JANUS_ADMIN_PORT": str(admin_port), "JANUS_RTP_RANGE": "40000-40399", "JANUS_FORWARD_PORT_BASE": "40400", "JANUS_FORWARD_PORT_COUNT": "200",
        "JANUS_CONFIG_DIR": f"/tmp/bench-janus-{os.getpid()}", "CHANNEL_PREFIX": f"bench-audio-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
        # Media work runs in a Celery worker (started below), on a broker of the bench's own.
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/14",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    janus = subprocess.Popen(["deploy/janus/run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    daphne = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "spaces.asgi:application"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "spaces", "worker", "--concurrency", "1",
                               "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
    import django
    import requests

    django.setup()
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    from rooms import services

    base = f"http://127.0.0.1:{web_port}"
    for _ in range(100):
        try:
            if requests.get(base + "/", timeout=1).ok and requests.post(f"http://127.0.0.1:{http_port}/janus", json={"janus": "info", "transaction": "x"}, timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.2)
    host = get_user_model().objects.create_user("bench_host", password="correct horse battery")
    space = services.space_create(host=host, title="Latency")
    janus_pid = int(subprocess.run(["pgrep", "-f", f"janus -C {env['JANUS_CONFIG_DIR']}"], capture_output=True, text=True).stdout.split()[0])
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    latencies, curve = [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            speaker_context = browser.new_context()
            speaker_context.add_init_script(BEEPING_MICROPHONE)
            speaker = speaker_context.new_page()
            speaker.goto(base + "/accounts/login/")
            speaker.fill("#id_username", "bench_host")
            speaker.fill("#id_password", "correct horse battery")
            speaker.click("button[type=submit]")
            speaker.goto(f"{base}/s/{space.code}/")
            speaker.click("#listen")
            speaker.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=30000)
            listener = browser.new_page()
            listener.goto(f"{base}/s/{space.code}/")
            listener.click("#listen")
            listener.wait_for_function("document.getElementById('audio').srcObject", timeout=30000)
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
    finally:
        for process in (daphne, worker, janus):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)

    def pct(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]

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
