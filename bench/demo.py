"""`make bench`: the spine's numbers on this machine, written to bench-results/demo.json.

Runs `neuronlab demo --json` on a fresh LocalCloud in a temporary state folder, sampling the memory
(RSS) of the LocalCloud server and of everything it started, then stops it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from results import write

ROOT = Path(__file__).resolve().parents[1]
NEURONLAB = Path(sys.executable).parent / "neuronlab"


def main() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="neuronlab-bench-"))
    env = {**os.environ, "NEURONLAB_STATE_DIR": str(state_dir)}
    begin = time.monotonic()
    demo = subprocess.Popen([str(NEURONLAB), "demo", "--json"], env=env, stdout=subprocess.PIPE, text=True)
    peak_server = peak_total = 0
    while demo.poll() is None:
        state_file = state_dir / "localcloud.json"
        if state_file.exists():
            try:
                server = psutil.Process(json.loads(state_file.read_text())["pid"])
                tree = [server, *server.children(recursive=True)]
                rss = [p.memory_info().rss for p in tree]
                peak_server, peak_total = max(peak_server, rss[0]), max(peak_total, sum(rss))
            except (psutil.Error, ValueError, KeyError):
                pass
        time.sleep(0.2)
    wall = time.monotonic() - begin
    output = demo.stdout.read() if demo.stdout else ""
    subprocess.run([str(NEURONLAB), "local", "down"], env=env, check=False, capture_output=True)
    summary = json.loads(output.strip().splitlines()[-1])
    bench = summary["benchmark"] or {}
    results = {
        "command": "neuronlab demo --json (fresh LocalCloud)",
        "demo_wall_s": round(wall, 1),
        "execution_status": summary["execution"]["status"],
        "execution_s": round(summary["execution"]["seconds"], 1),
        "state_transitions": summary["execution"]["stateTransitions"],
        "localcloud_server_peak_rss_mib": round(peak_server / 2**20),
        "localcloud_with_children_peak_rss_mib": round(peak_total / 2**20),
        "benchmark": {k: bench.get(k) for k in ("model", "backend", "inferences", "throughput")}
        | {"p50_ms": (bench.get("latency_ms") or {}).get("p50")},
    }
    write("demo", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
