"""LocalCloud's edge runs CloudFront functions in a Node.js worker: however many environments and edges a
process sees, its memory and threads stay bounded, and a failing worker is a 503, never a crash."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import requests

from localcloud.edge import Edge, ViewerFunctions
from tests.helpers import allow_list_code

MIB = 1024 * 1024
LOOPING = "function handler(event) { while (true) {} }"
ALLOW = "function handler(event) { return event.request; }"


@contextmanager
def edge(directory: Path, code: dict[str, str]) -> Iterator[Edge]:
    """An edge with no notebook behind it (every environment answers 404 once its function lets a request
    through) whose environments' function code is `code`, which the test changes as environments come and go."""
    instance = Edge(directory, route=lambda environment: None, viewer_function=code.get)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


_session = requests.Session()  # one connection, kept alive: the test measures the edge, not TLS handshakes


def get(instance: Edge, path: str) -> int:
    return _session.get(f"https://{instance.domain}{path}", verify=str(instance.ca_file), timeout=30).status_code


def edge_threads() -> list[str]:
    """The edge's own threads (its event loop and its function executor): the process has others of its own."""
    return [t.name for t in threading.enumerate() if t.name.startswith("localcloud-edge")]


def worker_rss(functions: ViewerFunctions) -> int:
    assert functions.worker_pid is not None
    return int(psutil.Process(functions.worker_pid).memory_info().rss)


def test_hundreds_of_environments_through_one_edge_keep_memory_and_threads_bounded(tmp_path: Path) -> None:
    # Given one edge, and environments created and deleted one after another, as a long test run does
    this = psutil.Process()
    code: dict[str, str] = {}
    statuses: list[tuple[int, int, int]] = []
    with edge(tmp_path, code) as instance:
        for number in range(1000):
            environment = f"env{number}"
            # odd environments allow only an address that is not this machine's: their function refuses
            code[environment] = allow_list_code(environment, ["127.0.0.1/32" if number % 2 == 0 else "192.0.2.1/32"])
            created = get(instance, f"/{environment}/lab")
            del code[environment]  # the environment's stack (and function) is deleted
            deleted = get(instance, f"/{environment}/lab")
            statuses.append((number % 2, created, deleted))
            if number == 49:  # warmed up: the figures everything after is held to
                rss, worker = this.memory_info().rss, worker_rss(instance.functions)
        # Then every function ran (404 from the load balancer when it let the request through, 403 when not) ...
        assert {(parity, created, deleted) for parity, created, deleted in statuses} == {(0, 404, 404),
                                                                                         (1, 403, 404)}
        # ... no context outlives its environment, and neither process grows with environments
        assert instance.functions.contexts() == 0
        assert len(edge_threads()) <= 5, edge_threads()  # its loop and at most 4 function threads
        assert this.memory_info().rss - rss < 64 * MIB, "the process grew with environments"
        assert worker_rss(instance.functions) - worker < 64 * MIB, "the function worker grew with environments"


def test_live_environments_beyond_the_bound_keep_working(tmp_path: Path) -> None:
    code = {f"env{n}": allow_list_code(f"env{n}", ["127.0.0.1/32"]) for n in range(100)}
    with edge(tmp_path, code) as instance:
        # Given more live environments than the worker keeps contexts for (64), each asked twice
        results = [get(instance, f"/env{n}/lab") for n in [*range(100), *range(100)]]
        # Then every request ran its own environment's function, and the worker holds at most its bound
        assert set(results) == {404}
        assert instance.functions.contexts() == 64
        code["env7"] = allow_list_code("env7", ["192.0.2.1/32"])  # a changed allow-list applies at once
        assert get(instance, "/env7/lab") == 403


def test_edges_started_and_stopped_one_after_another_leave_no_worker_or_thread(tmp_path: Path) -> None:
    code = {"demo": allow_list_code("demo", ["127.0.0.1/32"])}
    workers = []
    # Given ten LocalCloud edges, one after another, as one pytest process runs many LocalClouds
    for _ in range(10):
        with edge(tmp_path, code) as instance:
            assert get(instance, "/demo/lab") == 404
            workers.append(instance.functions.worker_pid)
    # Then each stop ended its worker and its thread
    assert not [pid for pid in workers if pid is not None and psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert edge_threads() == []


def test_a_function_that_throws_or_runs_too_long_is_a_503_as_cloudfront_answers(tmp_path: Path) -> None:
    code = {"throws": "function handler(event) { return event.nothing.here; }", "loops": LOOPING,
            "nothing": "function handler(event) { }", "fine": allow_list_code("fine", ["127.0.0.1/32"])}
    with edge(tmp_path, code) as instance:
        assert get(instance, "/throws/lab") == 503
        assert get(instance, "/nothing/lab") == 503  # neither a request nor a response
        assert get(instance, "/loops/lab") == 503  # the worker's own time limit stops it; the worker lives on
        assert get(instance, "/fine/lab") == 404


def test_a_dead_worker_is_a_503_with_a_log_line_and_the_next_request_gets_a_new_worker(
        caplog: pytest.LogCaptureFixture) -> None:
    # Given a worker that dies while a function runs (the function loops; the test kills the worker)
    functions = ViewerFunctions({"loops": LOOPING, "fine": ALLOW}.get, function_timeout_ms=60_000)
    try:
        assert functions.run("fine", {"request": {"uri": "/fine/"}}) == {"uri": "/fine/"}
        first = functions.worker_pid
        assert first is not None
        threading.Timer(0.5, os.kill, (first, signal.SIGKILL)).start()
        # When a request is in flight
        with caplog.at_level(logging.WARNING, logger="localcloud.edge"):
            answer = functions.run("loops", {"request": {"uri": "/loops/"}})
        # Then the viewer gets CloudFront's answer to a function error, the log says which function and why
        assert answer is not None and answer["statusCode"] == 503
        assert "CloudFront function of loops failed (the worker exited (-9))" in caplog.text
        # and the next request is served by a new worker
        assert functions.run("fine", {"request": {"uri": "/fine/"}}) == {"uri": "/fine/"}
        assert functions.worker_pid not in (None, first)
    finally:
        functions.close()


def test_a_looping_function_holds_up_no_other_environments_traffic(tmp_path: Path) -> None:
    """The function runs off the edge's event loop: while one environment's function loops (up to its time limit),
    a request that needs no function (a path of no environment) is answered at once."""
    code = {"loops": LOOPING}
    with edge(tmp_path, code) as instance:
        slow = threading.Thread(target=get, args=(instance, "/loops/lab"))
        slow.start()
        time.sleep(0.2)
        began = time.monotonic()
        assert requests.get(f"https://{instance.domain}/elsewhere/", verify=str(instance.ca_file),
                            timeout=30).status_code == 404
        answered_in = time.monotonic() - began
        slow.join()
    assert answered_in < 0.5, answered_in


def test_a_stuck_worker_is_replaced_after_the_edge_stops_waiting() -> None:
    functions = ViewerFunctions({"loops": LOOPING, "fine": ALLOW}.get, timeout_s=0.5, function_timeout_ms=60_000)
    try:
        answer = functions.run("loops", {"request": {"uri": "/loops/"}})
        assert answer is not None and answer["statusCode"] == 503
        assert functions.worker_pid is None  # killed, not left looping
        assert functions.run("fine", {"request": {"uri": "/fine/"}}) == {"uri": "/fine/"}
    finally:
        functions.close()
