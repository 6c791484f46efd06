"""The CloudFront function that guards each environment's distribution, run under Node.js.

CloudFront Functions run JavaScript at the edge; every viewer of LocalCloud's edge is 127.0.0.1, so this test
runs the function's code from nested/notebook.yml with Node for viewers from elsewhere.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import allow_list_code

NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def node() -> None:
    if NODE is None:
        pytest.fail("Node.js is needed to run the CloudFront function (apt install nodejs)")


def run(code: str, cases: list[tuple[str, str]], tmp_path: Path) -> list[dict]:
    script = tmp_path / "function.js"
    events = [{"viewer": {"ip": ip}, "request": {"uri": uri, "method": "GET", "headers": {}}} for ip, uri in cases]
    script.write_text(code + f"\nconsole.log(JSON.stringify({json.dumps(events)}.map(handler)));\n")
    done = subprocess.run([str(NODE), str(script)], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def test_viewers_outside_the_allow_list_are_refused(tmp_path: Path) -> None:
    code = allow_list_code("demo", ["203.0.113.7/32", "198.51.100.0/24"])
    results = run(code, [("203.0.113.7", "/demo/lab"), ("203.0.113.8", "/demo/lab"), ("198.51.100.200", "/demo/api"),
                         ("198.51.101.1", "/demo/api"), ("2001:db8::1", "/demo/lab"), ("not an ip", "/demo/lab")],
                  tmp_path)
    assert [r.get("statusCode") for r in results] == [None, 403, None, 403, 403, 403]
    assert results[0]["uri"] == "/demo/lab"  # allowed requests pass through unchanged


def test_paths_of_other_environments_never_reach_the_shared_load_balancer(tmp_path: Path) -> None:
    results = run(allow_list_code("demo", ["10.0.0.0/8"]), [("10.1.2.3", "/other/lab"), ("10.1.2.3", "/"),
                                                         ("10.1.2.3", "/demolish/lab")], tmp_path)
    assert all(r["statusCode"] == 302 for r in results)
    assert {r["headers"]["location"]["value"] for r in results} == {"/demo/lab"}


def test_the_any_address_allow_list_admits_every_ipv4_viewer(tmp_path: Path) -> None:
    results = run(allow_list_code("demo", ["0.0.0.0/0"]), [("1.2.3.4", "/demo/"), ("255.255.255.255", "/demo/")],
                  tmp_path)
    assert [r.get("statusCode") for r in results] == [None, None]
