"""`python -m localcloud.server --state-dir DIR`: one LocalCloud process until SIGTERM.

Writes DIR/localcloud.json (API URL, AWS endpoint, pid) once ready, and keeps DIR/pids/ listing every
process it started so `neuronlab local down` can clean up even after a crash.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
from pathlib import Path

from localcloud.cloud import LocalCloud

STATE_FILE = "localcloud.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--poll-seconds", type=int, default=1)
    parser.add_argument("--api-port", type=int, default=0)
    # how much faster than the wall the schedules run (the idle sweep's rate(5 minutes) every 5 s at 60)
    parser.add_argument("--clock-speed", type=float, default=float(os.environ.get("NEURONLAB_LOCAL_CLOCK_SPEED", 1)))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())

    cloud = LocalCloud(args.state_dir.resolve(), poll_seconds=args.poll_seconds, api_port=args.api_port,
                       clock_speed=args.clock_speed).start()
    state_path = args.state_dir / STATE_FILE
    pid_dir = args.state_dir / "pids"
    pid_dir.mkdir(parents=True, exist_ok=True)
    state = {"pid": os.getpid(), **cloud.status()}
    # readable by you only: it holds the emulated IAM user's keys that `--local` signs with
    state_path.touch(mode=0o600)
    state_path.write_text(json.dumps(state, indent=2))
    try:
        while not stopping.wait(1.0):
            live = set(cloud.agent.pids())
            for stale in pid_dir.iterdir():
                if int(stale.name) not in live:
                    stale.unlink(missing_ok=True)
            for pid in live:
                (pid_dir / str(pid)).touch()
    finally:
        cloud.stop()
        for entry in pid_dir.iterdir():
            entry.unlink(missing_ok=True)
        state_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
