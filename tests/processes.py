"""Running the project's own processes in tests: free ports, waiting on conditions, process groups."""

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """The URL of the database this test uses, for the project's processes it starts."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


# A helper, not a test (modules that import it would otherwise have pytest collect it).
test_database_url.__test__ = False


_handed_out: set[int] = set()

PORTS = (20000, 30000)


def port_range() -> range:
    """The ports ``free_port`` may hand out in this process.

    Under pytest-xdist each worker has a slice of its own: the check in ``free_port`` only proves a
    port free at that moment, and another worker could otherwise pick the same one before this
    worker's process has bound it. Outside xdist (one test process, the benchmarks) it is the whole
    range. The range stays below 30000, where the stacks' Janus RTP ranges begin."""
    low, high = PORTS
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return range(low, high)
    size = (high - low) // count
    start = low + int(worker[2:]) * size
    return range(start, start + size)


def free_port() -> int:
    """A port nothing listens on, never the same twice in one test run.

    Ports come from below the kernel's ephemeral range (32768 and up), so an outgoing connection
    cannot take one between this check and the process that binds it; asking the kernel for port 0
    instead gave two processes of one stack the same port (Redis and Janus's admin server) when a
    port was handed back before its process had bound it. Parallel test processes draw from
    slices of their own (``port_range``)."""
    ports = port_range()
    while True:
        port = random.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(condition, *, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(interval)
    return None


class Process:
    def __init__(self, args, env, log: Path):
        self.args, self.env, self.log_path = args, env, log
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()

    def tail(self) -> str:
        return self.log_path.read_text()[-4000:]
