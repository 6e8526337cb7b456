"""How fast Janus obeys the app: a forged unmute undone, a demoted speaker put out, a host's mute
applied, and audio back after Janus crashes.

Everything runs as in production, on this machine: Janus under ``deploy/respawn`` with the
project's configuration (event handler posting to the app), daphne, a Celery worker (concurrency
2, as in the Procfile) and beat with the media reconcile every 2 s, against a database of the
bench's own.

1. Forged unmute. A speaker's client, speaking Janus's HTTP API with the credentials the app gave
   it (``GET /api/spaces/<code>/media/``), joins the AudioBridge. The host mutes them (``PATCH
   muted``): the time until Janus's ``listparticipants`` says muted. Then the client sends
   ``configure {muted: false}`` itself: how long it stays unmuted, polled every ~5 ms.
2. Demotion. The host moves the same client back to the audience (``PATCH role listener``); the
   client does nothing and keeps its session: the time until its id is gone from the mix. Then it
   tries to join again with the seat it had (refused or not).
3. Mute, heard. A Chromium speaker (the room page of a promoted user, a 440 Hz tone as
   microphone) and a signed-out Chromium listener on the share page: the host mutes the speaker,
   the time until the listener's page plays silence; unmutes, until it plays sound again.
4. Crash. With the same two pages connected, Janus is SIGKILLed and ``deploy/respawn`` starts it
   again. Times from the kill until Janus answers, until the room, its mountpoint and the forward
   between them exist again (the beat's reconcile), until the speaker's page is back in the mix,
   and until the listener's page plays sound again (neither page is reloaded).

Baseline, measured in the same run: one ``listparticipants`` round trip to Janus (what the app's
control path is built from), so the times can be read as multiples of it on a loaded machine.

    .venv/bin/python bench/media_enforcement.py --repeat 7 --crashes 3
"""

import argparse
import os
import queue
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import free_port, wait_for  # noqa: E402  (the project's, beside ROOT)
from stack import CHROMIUM, CHROMIUM_ARGS, PASSWORD  # noqa: E402  (beside this file)

DB_NAME = "bench_media"
# Janus's RTP ranges for this bench: below the kernel's ephemeral ports and away from the e2e
# tests' (30000 and up) and the other benches'.
RTP_RANGE, FORWARD_BASE, FORWARD_COUNT = "24000-24399", 24400, 200
# Janus is restarted after 1 s, as after a crash that follows a long uptime (respawn's pause only
# grows when the command dies again within RESPAWN_STABLE seconds of its start).
RESPAWN_STABLE = 8
SOUND = 0.01

# On the listener's page: every change between sound and silence in what #audio plays, with the
# wall clock (Date.now(), the same clock as the bench's time.time()). It follows the element to
# each new stream the page plays after a reconnect.
LEVEL_MONITOR = """(threshold) => {
  const state = window.__level = { changes: [], loud: false };
  const ctx = new AudioContext();
  let stream = null, source = null, analyser = null;
  const buffer = new Float32Array(1024);
  setInterval(() => {
    const audio = document.getElementById('audio');
    if (audio && audio.srcObject && audio.srcObject !== stream) {
      if (source) source.disconnect();
      stream = audio.srcObject;
      analyser = ctx.createAnalyser(); analyser.fftSize = 1024;
      source = ctx.createMediaStreamSource(stream); source.connect(analyser);
    }
    if (!analyser) return;
    analyser.getFloatTimeDomainData(buffer);
    let sum = 0; for (const v of buffer) sum += v * v;
    const loud = Math.sqrt(sum / buffer.length) > threshold;
    if (loud !== state.loud) { state.loud = loud; state.changes.push([Date.now(), loud]); }
  }, 10);
}"""


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def janus_pid(config_dir: str) -> int | None:
    """The pid of the Janus this bench started (the one reading its configuration folder)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"janus") and f"{config_dir}/janus.jcfg".encode() in argv:
            return int(entry.name)
    return None


class SpeakerClient:
    """A speaker's client on Janus's HTTP API, holding the credentials the app gave it and sending
    whatever it likes: an unmute while the host has it muted, staying after a demotion."""

    def __init__(self, url: str, creds: dict):
        import requests

        self.url, self.creds, self.http = url, creds, requests.Session()
        self.events: queue.Queue = queue.Queue()
        self.ended = False
        self.session = self.post("", {"janus": "create"})["data"]["id"]
        self.handle = self.post(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.audiobridge"})["data"]["id"]
        self.poller = threading.Thread(target=self._poll, daemon=True)
        self.poller.start()

    def post(self, path: str, payload: dict) -> dict:
        payload = {**payload, "transaction": secrets.token_hex(6), "token": self.creds["token"]}
        reply = self.http.post(self.url + path, json=payload, timeout=10).json()
        if reply.get("janus") == "error":
            raise RuntimeError(reply["error"].get("reason"))
        return reply

    def send(self, body: dict) -> dict:
        return self.post(f"/{self.session}/{self.handle}", {"janus": "message", "body": body})

    def _poll(self):
        import requests

        http = requests.Session()
        while True:
            try:
                response = http.get(f"{self.url}/{self.session}", params={"maxev": 5, "token": self.creds["token"]}, timeout=40)
                if response.status_code == 404:  # the session is gone (Janus answers 404, empty body)
                    self.ended = True
                    return
                reply = response.json()
            except (requests.RequestException, ValueError):
                time.sleep(0.2)
                continue
            for event in reply if isinstance(reply, list) else [reply]:
                if event.get("janus") == "error" or (event.get("janus") == "timeout" and "session_id" in event):
                    self.ended = True
                    return
                self.events.put(event)

    def join(self, timeout: float = 10.0) -> bool:
        """Join the mix under the server-given id; retried while the room does not take the seat's
        secret yet (the sync that allows it runs after the promotion commits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.send({"request": "join", "room": self.creds["room"], "id": self.creds["participant_id"],
                       "token": self.creds["participant_token"], "muted": False, "display": "forger"})
            data = self.next_plugin_data(timeout=5)
            if data and data.get("audiobridge") == "joined" and data.get("id") == self.creds["participant_id"]:
                return True
            time.sleep(0.05)
        return False

    def next_plugin_data(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return None
            data = event.get("plugindata", {}).get("data")
            if data is not None:
                return data
        return None

    def close(self):
        try:
            self.post(f"/{self.session}", {"janus": "destroy"})
        except Exception:
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7, help="repetitions of the mute, forged unmute and demotion")
    parser.add_argument("--crashes", type=int, default=3, help="Janus crashes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    for sql in (f"drop database if exists {DB_NAME}", f"create database {DB_NAME}"):
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, capture_output=True)
    tone = work / "tone.wav"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", str(tone), "synth", "60", "sine", "440", "vol", "0.5"], check=True)
    web_port, http_port, ws_port, admin_port, redis_port, packer_port = (free_port() for _ in range(6))
    config_dir = str(work / "janus")

    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "SPACES_PORT": str(web_port), "JANUS_HTTP_PORT": str(http_port), "JANUS_WS_PORT": str(ws_port),
        "JANUS_ADMIN_PORT": str(admin_port), "JANUS_RTP_RANGE": RTP_RANGE,
        "JANUS_FORWARD_PORT_BASE": str(FORWARD_BASE), "JANUS_FORWARD_PORT_COUNT": str(FORWARD_COUNT),
        "JANUS_PACKER_PORT": str(packer_port), "JANUS_CONFIG_DIR": config_dir, "MEDIA_ROOT": str(work / "media"), "CHANNEL_PREFIX": f"bench-media-{os.getpid()}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/1",
        "SPACES_MEDIA_RECONCILE_INTERVAL": "2", "RESPAWN_STABLE": str(RESPAWN_STABLE),
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    def start(name, command):
        log = open(work / f"{name}.log", "a")
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    celery = [sys.executable, "-m", "celery", "-A", "spaces"]
    processes = [
        # A Redis of the bench's own (broker, channel layer, presence, locks): on a shared Redis,
        # another run's worker on the same database number would take this run's tasks.
        start("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"]),
        start("janus", ["deploy/respawn", "deploy/janus/run"]),
        start("packer", ["deploy/respawn", sys.executable, "manage.py", "media_packer"]),
        start("daphne", [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "spaces.asgi:application"]),
        start("worker", [*celery, "worker", "--concurrency", "2", "--without-gossip", "--without-mingle", "--loglevel", "INFO"]),
        start("beat", [*celery, "beat", "--schedule", str(work / "beat"), "--loglevel", "INFO"]),
    ]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces.settings")
    import django
    import requests

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from rooms.media import MediaError
    from rooms.media import janus as media
    from rooms.models import Participant, Space

    janus_url = media.config()["URL"]
    base = f"http://127.0.0.1:{web_port}"

    def janus_answers() -> bool:
        try:
            return requests.post(janus_url, json={"janus": "info", "transaction": "x"}, timeout=0.5).ok
        except requests.RequestException:
            return False

    try:
        assert wait_for(lambda: requests.get(base + "/", timeout=1).ok, timeout=60, interval=0.05) and wait_for(janus_answers, timeout=60, interval=0.05), "the stack did not start"
        users = {name: get_user_model().objects.create_user(name, password=PASSWORD) for name in ("bench_host", "bench_forger", "bench_speaker")}

        def api(name):
            session = requests.Session()
            session.headers["Authorization"] = f"Token {Token.objects.get_or_create(user=users[name])[0].key}"
            return session

        host, forger = api("bench_host"), api("bench_forger")
        created = host.post(f"{base}/api/spaces/", json={"title": "Enforcement"})
        assert created.status_code == 201, created.text
        code = created.json()["code"]
        room = Space.objects.get(code=code).media_room_id
        assert wait_for(lambda: room in media.JanusMediaServer().rooms().listeners, timeout=20, interval=0.05), "no media room"
        me = forger.post(f"{base}/api/spaces/{code}/join/", json={}).json()["participant"]["id"]
        person = f"{base}/api/spaces/{code}/participants/{me}/"

        results = {"rtt": [], "joinable": [], "host_mute": [], "undone": [], "unmuted_for": [], "demoted": [], "session_ended": [],
                   "mute_silent": [], "unmute_heard": [], "rejoin_refused": 0, "never_seen_unmuted": 0}
        # One control session for all the polling, as the app's own calls are made.
        with media.plugin(media.AUDIOBRIDGE) as bridge:

            def mix() -> dict:
                started = time.perf_counter()
                listing = media.participants(bridge, room)
                results["rtt"].append((time.perf_counter() - started) * 1000)
                return listing

            def poll_until(condition, timeout=5.0, interval=0.005):
                """Poll the mix every ``interval`` until ``condition(mix)``; returns (time.time(), mix) or None."""
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    listing = mix()
                    if condition(listing):
                        return time.time(), listing
                    time.sleep(interval)
                return None

            def poll_sessions_until(condition, timeout=5.0):
                """Poll Janus's sessions (admin API) every 5 ms until ``condition(sessions)``; returns when."""
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if condition(set(media._admin_request("", {"janus": "list_sessions"}).get("sessions", []))):
                        return time.time()
                    time.sleep(0.005)
                return None

            def since(sent: float, done) -> float | None:
                """Milliseconds from ``sent`` to a poll's result (None: it never happened)."""
                return None if not done else ((done[0] if isinstance(done, tuple) else done) - sent) * 1000

            for rep in range(args.repeat):
                for _ in range(20):  # the baseline, between rounds as well as within them
                    mix()
                    time.sleep(0.005)
                promoted = time.time()
                assert host.patch(person, json={"role": "speaker"}).status_code == 200
                creds = forger.get(f"{base}/api/spaces/{code}/media/").json()["media"]
                assert creds and creds["kind"] == "speaker", creds
                pid = creds["participant_id"]
                client = SpeakerClient(janus_url, creds)
                assert client.join(), "the promoted client could not join the mix"
                results["joinable"].append(since(promoted, time.time()))
                assert poll_until(lambda m: m.get(pid) is False), "not unmuted in the mix"
                time.sleep(0.3)

                # The host mutes them: how long until Janus has them muted.
                sent = time.time()
                assert host.patch(person, json={"muted": True}).status_code == 200
                results["host_mute"].append(since(sent, poll_until(lambda m: m.get(pid) is True)))
                time.sleep(0.3)

                # The client unmutes itself anyway: how long until it is muted again.
                sent = time.time()
                client.send({"request": "configure", "muted": False})
                seen_unmuted = poll_until(lambda m: m.get(pid) is False, timeout=0.5)
                redone = poll_until(lambda m: m.get(pid) is True)
                results["undone"].append(since(sent, redone))
                if seen_unmuted:
                    results["unmuted_for"].append(since(seen_unmuted[0], redone))
                else:
                    results["never_seen_unmuted"] += 1
                time.sleep(0.3)

                # The host moves them back to the audience; the client holds on to its session.
                sent = time.time()
                assert host.patch(person, json={"role": "listener"}).status_code == 200
                results["demoted"].append(since(sent, poll_until(lambda m: pid not in m)))
                results["session_ended"].append(since(sent, poll_sessions_until(lambda sessions: client.session not in sessions)))
                # It tries to come back with the seat it had.
                time.sleep(0.5)
                try:
                    again = SpeakerClient(janus_url, creds)
                    rejoined = again.join(timeout=1.0)
                    again.close()
                except RuntimeError:
                    rejoined = False
                results["rejoin_refused"] += not rejoined
                client.close()
                shown = {key: results[key][-1] for key in ("host_mute", "undone", "demoted")}
                print(f"round {rep + 1}: " + ", ".join(f"{k} {v:.0f} ms" if v is not None else f"{k} never" for k, v in shown.items()),
                      file=sys.stderr)

        # --- crash recovery ------------------------------------------------------------------
        from playwright.sync_api import sync_playwright

        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        crashes = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={tone}"]
            )
            speaker = browser.new_context().new_page()
            speaker.goto(base + "/accounts/login/")
            speaker.fill("#id_username", "bench_speaker")
            speaker.fill("#id_password", PASSWORD)
            speaker.click("button[type=submit]")
            speaker.wait_for_url(lambda url: "/accounts/login/" not in url)
            speaker.goto(f"{base}/s/{code}/")
            speaker.click("#listen")
            speaker.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=30000)
            seat = Participant.objects.get(space__code=code, user=users["bench_speaker"])
            assert host.patch(f"{base}/api/spaces/{code}/participants/{seat.uid}/", json={"role": "speaker"}).status_code == 200
            speaker.wait_for_function("document.getElementById('media-status').textContent.includes('on stage')", timeout=30000)
            speaker_id = Participant.objects.get(pk=seat.pk).media_id
            listener = browser.new_context().new_page()
            listener.goto(f"{base}/s/{code}/")
            listener.click("#listen")
            listener.wait_for_function("document.getElementById('media-status').textContent === 'Listening.'", timeout=30000)
            listener.evaluate(LEVEL_MONITOR, SOUND)

            def heard_since(moment: float) -> float | None:
                """When the listener's page went from silence to sound after ``moment`` (s)."""
                for at, loud in listener.evaluate("window.__level.changes"):
                    if loud and at / 1000 > moment:
                        return at / 1000
                return None

            def quiet_since(moment: float) -> float | None:
                for at, loud in listener.evaluate("window.__level.changes"):
                    if not loud and at / 1000 > moment:
                        return at / 1000
                return None

            def speaker_in_mix() -> bool:
                with media.plugin(media.AUDIOBRIDGE) as b:
                    return media.participants(b, room).get(speaker_id) is False

            def rebuilt() -> bool:
                secret = media.room_secret(room)
                with media.plugin(media.STREAMING) as streaming:
                    port = streaming.message({"request": "info", "id": room, "secret": secret})["info"]["media"][0]["port"]
                with media.plugin(media.AUDIOBRIDGE) as b:
                    forwarders = b.message({"request": "listforwarders", "room": room, "secret": secret}).get("rtp_forwarders", [])
                return any(f.get("port") == port for f in forwarders)

            assert wait_for(lambda: listener.evaluate("window.__level.loud"), timeout=30, interval=0.2), "the listener never heard the speaker"
            # The host mutes the Chromium speaker: how long until the listener's page plays silence
            # (Janus's mute, then the mix, the forward and the listener's jitter buffer), and back.
            seat_url = f"{base}/api/spaces/{code}/participants/{seat.uid}/"
            for rep in range(args.repeat):
                assert wait_for(lambda: listener.evaluate("window.__level.loud"), timeout=10, interval=0.05), "no sound before the mute"
                time.sleep(1)
                sent = time.time()
                assert host.patch(seat_url, json={"muted": True}).status_code == 200
                results["mute_silent"].append(since(sent, wait_for(lambda: quiet_since(sent), timeout=5, interval=0.05)))
                time.sleep(1)
                sent = time.time()
                assert host.patch(seat_url, json={"muted": False}).status_code == 200
                results["unmute_heard"].append(since(sent, wait_for(lambda: heard_since(sent), timeout=5, interval=0.05)))
            up_since = time.monotonic()
            for crash in range(args.crashes):
                # Janus up long enough for respawn to restart it after its shortest pause, and sound
                # playing steadily for a couple of seconds.
                time.sleep(max(0.0, RESPAWN_STABLE + 1 - (time.monotonic() - up_since)))
                assert wait_for(lambda: listener.evaluate("window.__level.loud"), timeout=30, interval=0.2), "no sound before the crash"
                time.sleep(2)
                pid = wait_for(lambda: janus_pid(config_dir), timeout=10, interval=0.05)
                killed = time.time()
                os.kill(pid, signal.SIGKILL)
                row = {"started": None, "answers": None, "rebuilt": None, "speaker": None, "heard": None, "silent": None}
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and row["heard"] is None:
                    if row["started"] is None:
                        # respawn's pause, then deploy/janus/run renders the configuration and execs Janus.
                        if janus_pid(config_dir) not in (None, pid):
                            row["started"] = time.time() - killed
                        else:
                            time.sleep(0.01)
                        continue
                    if row["answers"] is None:
                        if janus_answers():
                            row["answers"] = time.time() - killed
                            up_since = time.monotonic()
                        else:
                            time.sleep(0.02)
                        continue
                    try:
                        if row["rebuilt"] is None and rebuilt():
                            row["rebuilt"] = time.time() - killed
                        if row["rebuilt"] is not None and row["speaker"] is None and speaker_in_mix():
                            row["speaker"] = time.time() - killed
                    except (MediaError, KeyError, IndexError):
                        pass
                    heard = heard_since(killed + row["answers"])
                    if heard is not None:
                        row["heard"] = heard - killed
                    time.sleep(0.05)
                silent = quiet_since(killed)
                row["silent"] = None if silent is None else silent - killed
                crashes.append(row)
                print(f"crash {crash + 1}: " + ", ".join(f"{k} {v:.2f} s" if v is not None else f"{k} -" for k, v in row.items()),
                      file=sys.stderr)
            # The round trip again, now with Chromium's two sessions on Janus.
            with media.plugin(media.AUDIOBRIDGE) as b:
                crash_rtt = []
                for _ in range(50):
                    started = time.perf_counter()
                    media.participants(b, room)
                    crash_rtt.append((time.perf_counter() - started) * 1000)
                    time.sleep(0.01)
            browser.close()
    finally:
        for process in reversed(processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass

    rtt = statistics.median(results["rtt"])
    command = f".venv/bin/python bench/media_enforcement.py --repeat {args.repeat} --crashes {args.crashes}"
    print(f"Command: `{command}` ({time.strftime('%Y-%m-%d')})\n")
    print(f"Baseline: one `listparticipants` round trip to Janus, median {rtt:.1f} ms "
          f"(p90 {pct(results['rtt'], 0.9):.1f} ms, {len(results['rtt'])} calls); "
          f"{statistics.median(crash_rtt):.1f} ms with the two Chromium pages connected.\n")
    print("| measurement | n | median ms | p90 ms | max ms | median / round trip | target | |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")

    def row(label, measured, target_ms, target_text):
        values = [v for v in measured if v is not None]
        missing = len(measured) - len(values)
        n = f"{len(values)}" + (f" ({missing} never)" if missing else "")
        if not values:
            print(f"| {label} | {n} | - | - | - | - | {target_text} | FAIL |")
            return
        if target_ms is None:
            verdict = ""
        elif missing:
            verdict = "FAIL"
        elif max(values) <= target_ms:
            verdict = "PASS"
        else:
            verdict = "PASS at the median" if statistics.median(values) <= target_ms else "FAIL"
        print(f"| {label} | {n} | {statistics.median(values):.0f} | {pct(values, 0.9):.0f} | {max(values):.0f} | "
              f"{statistics.median(values) / rtt:.0f}× | {target_text} | {verdict} |")

    row("host mute → muted in Janus", results["host_mute"], 1000, "≤ 1 s")
    row("forged unmute sent → muted again", results["undone"], 200, "≤ 200 ms")
    row("forged unmute: seen unmuted → muted again", results["unmuted_for"], 200, "≤ 200 ms")
    row("host mute → listener's page silent (Chromium)", results["mute_silent"], 1000, "≤ 1 s")
    row("host unmute → listener's page hears again (Chromium)", results["unmute_heard"], None, "")
    row("demotion → out of the mix", results["demoted"], 1000, "≤ 1 s")
    row("demotion → client's Janus session ended", results["session_ended"], None, "")
    row("promotion → the client's join is accepted", results["joinable"], None, "")
    print(f"\nForged unmutes never seen unmuted by the 5 ms poll: {results['never_seen_unmuted']} of {args.repeat}. "
          f"Rejoins with the old seat refused: {results['rejoin_refused']} of {args.repeat}.\n")
    print("| Janus SIGKILLed → | n | median s | max s | target |")
    print("| --- | ---: | ---: | ---: | --- |")
    labels = {"silent": "listener silent", "started": "Janus process running again (respawn pause, configuration rendered)",
              "answers": "Janus answers again", "rebuilt": "room, mountpoint and forward rebuilt",
              "speaker": "speaker back in the mix", "heard": "listener hears the speaker again"}
    for key, label in labels.items():
        values = [c[key] for c in crashes if c[key] is not None]
        missing = len(crashes) - len(values)
        target = "≤ 15 s" if key == "heard" else ""
        if key == "heard":
            target += " (PASS)" if values and not missing and max(values) <= 15 else " (FAIL)"
        if values:
            print(f"| {label} | {len(values)}{f' ({missing} never)' if missing else ''} | {statistics.median(values):.2f} | {max(values):.2f} | {target} |")
        else:
            print(f"| {label} | 0 ({missing} never) | - | - | {target} |")
    print(f"\nLogs: {work}", file=sys.stderr)
    shutil.rmtree(work / "janus", ignore_errors=True)


if __name__ == "__main__":
    main()
