"""`make run` keeps going when one process dies: every Procfile process runs under deploy/respawn,
which restarts its command with a growing pause and stops it cleanly on SIGTERM or SIGINT."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.processes import ROOT, wait_for

RESPAWN = ROOT / "deploy" / "respawn"


def start(command: str, tmp_path: Path, **env) -> subprocess.Popen:
    """deploy/respawn running ``sh -c command`` in a process group of its own; stderr to a file."""
    with open(tmp_path / "respawn.log", "w") as log:
        return subprocess.Popen(
            [str(RESPAWN), "sh", "-c", command],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )


def group_is_empty(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def cleanup():
    started = []
    yield started.append
    for process in started:
        if not group_is_empty(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def test_every_procfile_process_runs_under_respawn():
    entries = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert {line.split(":", 1)[0] for line in entries} >= {"web", "worker", "beat", "janus", "redis"}
    for line in entries:
        name, command = line.split(":", 1)
        assert command.split()[0] == "deploy/respawn", f"{name} is not restarted when it dies"
    assert os.access(RESPAWN, os.X_OK)


def test_a_command_that_exits_is_started_again_with_a_growing_pause(tmp_path, cleanup):
    respawn = start("echo started >> starts; exit 3", tmp_path)
    cleanup(respawn)
    assert wait_for(lambda: len(lines(tmp_path / "starts")) >= 3, timeout=10), lines(tmp_path / "respawn.log")
    log = lines(tmp_path / "respawn.log")
    assert log[:2] == ["respawn: sh exited with 3; restarting in 1 s", "respawn: sh exited with 3; restarting in 2 s"]
    # Stopped during a pause (the third one, 4 s, has begun once its line is logged): nothing is
    # left behind (not even the pause's sleep).
    assert wait_for(lambda: len(lines(tmp_path / "respawn.log")) >= 3, timeout=10), lines(tmp_path / "respawn.log")
    respawn.send_signal(signal.SIGTERM)
    assert respawn.wait(timeout=3) == 3
    assert wait_for(lambda: group_is_empty(respawn.pid), timeout=3)


def test_the_pause_is_short_again_after_the_command_stayed_up(tmp_path, cleanup):
    # Dies at once twice (pauses 1 s, 2 s), then stays up past RESPAWN_STABLE: the next pause is 1 s.
    command = 'echo started >> starts; [ "$(wc -l < starts)" -eq 3 ] && sleep 1.5; exit 1'
    respawn = start(command, tmp_path, RESPAWN_STABLE="1")
    cleanup(respawn)
    assert wait_for(lambda: len(lines(tmp_path / "starts")) >= 4, timeout=15), lines(tmp_path / "respawn.log")
    assert [line.rsplit(" in ", 1)[1] for line in lines(tmp_path / "respawn.log")[:3]] == ["1 s", "2 s", "1 s"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_command_and_respawn_with_nothing_left(tmp_path, cleanup, sig):
    respawn = start("echo $$ > pid; exec sleep 300", tmp_path)
    cleanup(respawn)
    child = wait_for(lambda: int((tmp_path / "pid").read_text()), timeout=5)
    assert child and Path(f"/proc/{child}").exists()
    began = time.monotonic()
    respawn.send_signal(sig)  # to respawn alone, not to its process group
    assert respawn.wait(timeout=5) == 128 + sig
    assert time.monotonic() - began < 3
    assert wait_for(lambda: group_is_empty(respawn.pid), timeout=3), "the command outlived respawn"
    assert "restarting" not in (tmp_path / "respawn.log").read_text()
