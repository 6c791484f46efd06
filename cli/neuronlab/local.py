"""Start, stop and find the LocalCloud server process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from neuronlab import signing

STATE_FILE = "localcloud.json"
START_TIMEOUT_S = 120


def state_dir() -> Path:
    return Path(os.environ.get("NEURONLAB_STATE_DIR", ".neuronlab")).resolve()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(directory: Path | None = None) -> dict[str, Any] | None:
    path = (directory or state_dir()) / STATE_FILE
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    return state if _alive(state["pid"]) else None


def up(directory: Path | None = None, poll_seconds: int = 1) -> tuple[dict[str, Any], bool]:
    """Start LocalCloud unless it runs; returns its state and whether it was started now."""
    directory = directory or state_dir()
    running = read_state(directory)
    if running:
        return running, False
    down(directory)  # clean up after a crashed server, if any
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STATE_FILE).unlink(missing_ok=True)
    log = (directory / "localcloud.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "localcloud.server", "--state-dir", str(directory), "--poll-seconds", str(poll_seconds)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"LocalCloud exited with code {process.returncode}; see {directory / 'localcloud.log'}")
        state = read_state(directory)
        if state:
            signing.session(state["person"], state["region"]).get(state["apiUrl"] + "/environments",
                                                                  timeout=30).raise_for_status()
            return state, True
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"LocalCloud did not start within {START_TIMEOUT_S} s; see {directory / 'localcloud.log'}")


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def down(directory: Path | None = None, timeout_s: float = 20) -> list[int]:
    """Stop the server and every process it started. Returns the pids that were stopped."""
    directory = directory or state_dir()
    stopped: list[int] = []
    state_path = directory / STATE_FILE
    if state_path.exists():
        pid = json.loads(state_path.read_text())["pid"]
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _alive(pid):
                _kill_group(pid, signal.SIGKILL)
            stopped.append(pid)
        state_path.unlink(missing_ok=True)
    pid_dir = directory / "pids"
    if pid_dir.exists():  # children of a server that could not clean up
        for entry in pid_dir.iterdir():
            child = int(entry.name)
            if _alive(child):
                _kill_group(child, signal.SIGTERM)
                time.sleep(0.5)
                _kill_group(child, signal.SIGKILL)
                stopped.append(child)
            entry.unlink(missing_ok=True)
    return stopped
