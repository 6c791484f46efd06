"""The idle decision as a pure function: every rule that keeps, warns, stops or gives up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.domain.idle import IdlePolicy, Kernel, Signals, Terminal, decide

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = IdlePolicy(idle_minutes=60, grace_minutes=10, warning_minutes=10)
LONG_AGO = NOW - timedelta(hours=5)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_idle_server_past_the_limit_is_stopped_with_its_evidence() -> None:
    decision = decide(Signals(reachable=True, last_activity=ago(61)), POLICY, NOW, LONG_AGO)
    assert decision.action == "stop" and decision.idle_minutes == pytest.approx(61)
    assert decision.evidence["last_activity_used"] == ago(61)


def test_warning_comes_before_the_stop_once() -> None:
    signals = Signals(reachable=True, last_activity=ago(52))
    assert decide(signals, POLICY, NOW, LONG_AGO).action == "warn"
    assert decide(signals, POLICY, NOW, LONG_AGO, warned=True).action == "keep"


def test_busy_kernel_keeps_the_environment_without_a_browser() -> None:
    busy = Kernel("k1", "busy", ago(300), connections=0)
    decision = decide(Signals(reachable=True, last_activity=ago(300), kernels=[busy]), POLICY, NOW, LONG_AGO)
    assert decision.action == "keep" and "busy" in decision.reason


def test_busy_kernel_past_the_cap_does_not_count() -> None:
    busy = Kernel("k1", "busy", ago(300))
    policy = IdlePolicy(idle_minutes=60, max_busy_minutes=240)
    assert decide(Signals(reachable=True, last_activity=ago(300), kernels=[busy]), policy, NOW, LONG_AGO).action \
        == "stop"


def test_recently_used_terminal_is_activity() -> None:
    signals = Signals(reachable=True, last_activity=ago(120), terminals=[Terminal("1", ago(5))])
    decision = decide(signals, POLICY, NOW, LONG_AGO)
    assert decision.action == "keep" and decision.idle_minutes == pytest.approx(5)


def test_kernel_stuck_in_starting_does_not_block_a_stop() -> None:
    stuck = Kernel("k2", "starting", None)
    assert decide(Signals(reachable=True, last_activity=ago(90), kernels=[stuck]), POLICY, NOW, LONG_AGO).action \
        == "stop"


def test_grace_period_after_start() -> None:
    decision = decide(Signals(reachable=True, last_activity=None), POLICY, NOW, ago(5))
    assert decision.action == "keep" and decision.reason.startswith("grace period")


def test_maximum_lifetime_stops_even_a_busy_environment() -> None:
    policy = IdlePolicy(max_lifetime_hours=4)
    busy = Kernel("k1", "busy", ago(1))
    decision = decide(Signals(reachable=True, last_activity=ago(1), kernels=[busy]), policy, NOW, LONG_AGO)
    assert decision.action == "stop" and "maximum lifetime" in decision.reason


def test_unreachable_is_counted_then_unhealthy() -> None:
    down = Signals(reachable=False, error="connection refused")
    first = decide(down, POLICY, NOW, LONG_AGO, unreachable_before=0)
    assert first.action == "keep" and first.evidence["unreachable_count"] == 1
    assert decide(down, POLICY, NOW, LONG_AGO, unreachable_before=2).action == "unhealthy"


def test_never_used_environment_counts_from_ready() -> None:
    decision = decide(Signals(reachable=True, last_activity=None), POLICY, NOW, ago(61))
    assert decision.action == "stop"


def test_a_sidecar_report_round_trips_to_the_same_signals() -> None:
    import json
    from dataclasses import asdict

    from orchestrator.domain.idle import signals_from_report

    signals = Signals(reachable=True, last_activity=ago(3), connections=1,
                      kernels=[Kernel("k1", "busy", ago(1), 0), Kernel("k2", "starting", None)],
                      terminals=[Terminal("1", ago(2))])
    stored = json.loads(json.dumps({**asdict(signals), "reportedAt": NOW.isoformat()}, default=str))
    assert signals_from_report(stored) == signals
    assert decide(signals_from_report(stored), POLICY, NOW, LONG_AGO).action == "keep"


def test_jupyter_timestamps_with_z_parse_on_python_3_10(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jupyter Server writes `...Z`; Python 3.10's fromisoformat rejects it (the image may run 3.10)."""
    from orchestrator.domain import idle

    class Python310Datetime(datetime):
        @classmethod
        def fromisoformat(cls, text: str) -> datetime:  # type: ignore[override]
            if text.endswith("Z"):
                raise ValueError(f"Invalid isoformat string: {text!r}")
            return datetime.fromisoformat(text)

    monkeypatch.setattr(idle, "datetime", Python310Datetime)
    assert idle.moment("2026-11-27T06:25:02.123456Z") == datetime(2026, 11, 27, 6, 25, 2, 123456, tzinfo=UTC)
    assert idle.moment(None) is None


def test_a_running_benchmark_keeps_an_idle_or_silent_environment() -> None:
    """Nobody is stopped mid-benchmark: not for idleness, not while the notebook's reports are missing."""
    idle = Signals(reachable=True, last_activity=NOW - timedelta(hours=5), benchmark="execution-1")
    silent = Signals(reachable=False, error="no report", benchmark="execution-1")
    for signals in (idle, silent):
        decision = decide(signals, POLICY, NOW, NOW - timedelta(hours=6), unreachable_before=5)
        assert decision.action == "keep" and "benchmark running (execution-1)" in decision.reason


@pytest.mark.parametrize("reported", ["not a time", None, 12, "2099-01-01T00:00:00+00:00", "2026-11-26T11:59:00",
                                      (NOW + timedelta(minutes=5)).isoformat()])
def test_a_report_time_the_task_wrote_wrong_is_no_report(reported: object) -> None:
    """The notebook task writes its report: a malformed, zone-less or future time never counts (a time in 2099
    would keep an idle environment running for ever; one that does not parse made the sweep skip it)."""
    from orchestrator.domain.lifecycle import _counts

    assert _counts({"reportedAt": reported}, NOW, LONG_AGO) is False
    assert _counts({"reportedAt": ago(1).isoformat()}, NOW, LONG_AGO) is True
    assert _counts({"reportedAt": (NOW + timedelta(seconds=30)).isoformat()}, NOW, LONG_AGO) is True  # clock skew
