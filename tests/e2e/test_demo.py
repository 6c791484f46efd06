"""`neuronlab demo --json` on a fresh LocalCloud, as a user runs it, then `local down`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

NEURONLAB = Path(sys.executable).parent / "neuronlab"


def neuronlab(env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(NEURONLAB), *args], env=env, capture_output=True, text=True, timeout=timeout)


def processes_under(state_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if str(state_dir) in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "state"
    yield directory
    neuronlab({**os.environ, "NEURONLAB_STATE_DIR": str(directory)}, "local", "down")


def test_demo_end_to_end_and_local_down_leaves_nothing(state_dir: Path) -> None:
    env = {**os.environ, "NEURONLAB_STATE_DIR": str(state_dir)}

    demo = neuronlab(env, "demo", "--json", "--benchmark-seconds", "3")
    assert demo.returncode == 0, demo.stderr[-3000:]
    summary = json.loads(demo.stdout.strip().splitlines()[-1])
    assert summary["execution"]["status"] == "SUCCEEDED"
    assert summary["execution"]["stateTransitions"] >= 12
    assert summary["environment"] == {"name": "demo", "status": "READY", "url": summary["environment"]["url"],
                                      "failureReason": None}
    assert summary["notebook"]["apiStatusCode"] == 200
    benchmark = summary["benchmark"]
    assert benchmark["model"] == "random:bert-base" and benchmark["environment"] == "demo"
    assert benchmark["inferences"] >= 20 and benchmark["correctness"]["classes_agree"]

    history = neuronlab(env, "history", "--local", "--json")
    assert history.returncode == 0, history.stderr
    assert benchmark["run_id"] in [item["run_id"] for item in json.loads(history.stdout)]

    # LocalCloud and the notebook are still running for the user
    running = processes_under(state_dir)
    assert any("jupyterlab" in " ".join(p.cmdline()) for p in running)

    # the token, a sweep (within the grace period: kept) and a stop, through the CLI
    token = neuronlab(env, "token", "demo", "--local")
    assert token.returncode == 0 and len(token.stdout.strip()) == 48
    decisions = json.loads(neuronlab(env, "sweep", "--local", "--json").stdout)
    assert [(d["environment"], d["action"]) for d in decisions] == [("demo", "keep")]
    assert decisions[0]["reason"].startswith("grace period")
    stopped = neuronlab(env, "stop", "demo", "--local", "--json")
    assert stopped.returncode == 0 and json.loads(stopped.stdout)["state"] == "STOPPED"
    # a stopped environment starts again warm, with its recorded settings
    restarted = neuronlab(env, "start", "demo", "--local", "--no-benchmark", "--json")
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    again = json.loads(restarted.stdout)
    assert again["state"] == "READY" and again["instanceType"] == "inf2.xlarge"
    assert again["execution"]["status"] == "SUCCEEDED"
    refused = neuronlab(env, "start", "demo", "--local", "--instance-type", "trn1.2xlarge")
    assert refused.returncode == 1 and "--instance-type" in refused.stderr
    # delete tears it down (the notebook process goes with it) and says which /home file system it kept
    deleted = neuronlab(env, "delete", "demo", "--yes", "--local")
    assert deleted.returncode == 0, deleted.stderr[-2000:]
    assert "DELETED" in deleted.stdout and "/home kept: EFS fs-" in deleted.stdout

    down = neuronlab(env, "local", "down")
    assert down.returncode == 0, down.stderr
    psutil.wait_procs(running, timeout=20)
    assert processes_under(state_dir) == []
    assert neuronlab(env, "local", "status").returncode == 1
