"""A test that crashes the process it runs in still leaves a report: the project's pytest options run tests in
a worker process (pytest-xdist), so a segfault in anything in-process (LocalCloud's emulation, a native
library) fails that test and the run goes on."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import ROOT

pytest_plugins = ["pytester"]

CRASHING = """
import ctypes


def test_before():
    pass


def test_crashes():
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def test_after():
    pass
"""


def test_a_segfault_fails_one_test_and_the_run_still_reports(pytester: pytest.Pytester) -> None:
    # Given the project's own pytest options and a test that segfaults
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    pytester.makeini("[pytest]\naddopts = " + " ".join(options) + "\n")
    pytester.makepyfile(test_crash=CRASHING)
    # When pytest runs it as `make test` does (a process of its own)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    # Then the crash is that test's failure, the tests after it ran, and the run ends with its summary line
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*crashed while running*test_crashes*", "*1 failed, 2 passed*"])
