"""Idle signals from a real JupyterLab on localhost, and the decisions they lead to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import websocket
from neuronlab_core import jupyter

from localcloud.patches import free_port
from orchestrator.domain.idle import IdlePolicy, decide

pytestmark = pytest.mark.slow

TOKEN = "idle-test-token"  # noqa: S105 (a throwaway token for a localhost server)
# Everything counts as idle at once unless a rule says otherwise.
STRICT = IdlePolicy(idle_minutes=0.0, grace_minutes=0.0, warning_minutes=0.0)
LONG_AGO = datetime.now(UTC) - timedelta(hours=1)


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(  # noqa: S310 (localhost)
            self.url + path.lstrip("/"), method=method, data=json.dumps(body or {}).encode() if body else None,
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"{}")

    def websocket(self, path: str) -> websocket.WebSocket:
        return websocket.create_connection(self.url.replace("http", "ws", 1) + path.lstrip("/"),
                                           header=[f"Authorization: token {TOKEN}"], timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("jupyter")
    # a kernel that never answers: it stays in `starting`
    stuck = root / "data" / "kernels" / "stuck"
    stuck.mkdir(parents=True)
    (stuck / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "import time; time.sleep(600)", "{connection_file}"],
        "display_name": "stuck", "language": "python"}))
    port = free_port()
    env = {**os.environ, "JUPYTER_TOKEN": TOKEN, "HOME": str(root), "JUPYTER_DATA_DIR": str(root / "data"),
           "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "JUPYTER_CONFIG_DIR": str(root / "config")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while jupyter.api_status(url, TOKEN)[0] != 200:
        assert time.monotonic() < deadline, "JupyterLab did not start"
        time.sleep(0.3)
    try:
        yield Server(url, process)
    finally:
        process.terminate()
        process.wait(timeout=20)


def execute(server: Server, kernel_id: str, code: str) -> websocket.WebSocket:
    ws = server.websocket(f"api/kernels/{kernel_id}/channels")
    session = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": uuid.uuid4().hex, "username": "test", "session": session,
                   "msg_type": "execute_request", "version": "5.3", "date": datetime.now(UTC).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    return ws


def wait_for(predicate, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def test_an_idle_server_is_judged_idle_and_polls_do_not_count_as_activity(server: Server) -> None:
    first = jupyter.signals(server.url, TOKEN)
    assert first.reachable and first.kernels == [] and first.terminals == []
    time.sleep(1.5)
    for _ in range(3):
        again = jupyter.signals(server.url, TOKEN)
    assert again.last_activity == first.last_activity  # the sweeper's own polls moved nothing
    assert decide(again, STRICT, datetime.now(UTC), LONG_AGO).action == "stop"


def test_wrong_token_or_dead_server_is_unreachable(server: Server) -> None:
    assert not jupyter.signals(server.url, "wrong").reachable
    dead = jupyter.signals(f"http://127.0.0.1:{free_port()}/", TOKEN)
    assert not dead.reachable and "Connection refused" in (dead.error or "")


def test_a_kernel_running_long_code_is_not_idle(server: Server) -> None:
    # (Jupyter Server reports a kernel as `starting` until a client first connects to it)
    kernel = server.api("POST", "api/kernels", {"name": "python3"})
    ws = execute(server, kernel["id"], "import time; time.sleep(30)")
    def busy() -> bool:
        return any(k.id == kernel["id"] and k.execution_state == "busy"
                   for k in jupyter.signals(server.url, TOKEN).kernels)

    wait_for(busy, timeout=60)
    ws.close()  # the browser is gone; the code keeps running
    time.sleep(1)
    signals = jupyter.signals(server.url, TOKEN)
    assert next(k for k in signals.kernels if k.id == kernel["id"]).execution_state == "busy"
    decision = decide(signals, STRICT, datetime.now(UTC), LONG_AGO)
    assert decision.action == "keep" and kernel["id"] in decision.reason
    server.api("DELETE", f"api/kernels/{kernel['id']}")


def test_a_terminal_in_use_is_activity(server: Server) -> None:
    terminal = server.api("POST", "api/terminals")
    before = datetime.now(UTC)
    ws = server.websocket(f"terminals/websocket/{terminal['name']}")
    ws.send(json.dumps(["stdin", "echo still-working\r"]))
    time.sleep(1.0)
    ws.close()
    signals = jupyter.signals(server.url, TOKEN)
    used = next(t for t in signals.terminals if t.name == terminal["name"])
    assert used.last_activity is not None and used.last_activity >= before - timedelta(seconds=1)
    policy = IdlePolicy(idle_minutes=5, grace_minutes=0, warning_minutes=0)
    assert decide(signals, policy, datetime.now(UTC), LONG_AGO).action == "keep"
    server.api("DELETE", f"api/terminals/{terminal['name']}")


def test_a_kernel_stuck_in_starting_does_not_block_the_stop(server: Server) -> None:
    kernel = server.api("POST", "api/kernels", {"name": "stuck"})
    signals = jupyter.signals(server.url, TOKEN)
    stuck = next(k for k in signals.kernels if k.id == kernel["id"])
    assert stuck.execution_state == "starting"
    assert decide(signals, STRICT, datetime.now(UTC), LONG_AGO).action == "stop"
    server.api("DELETE", f"api/kernels/{kernel['id']}")
