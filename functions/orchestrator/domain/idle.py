"""Idle policy: a pure function from Jupyter's signals and the environment's policy to a decision.

What counts as activity, and why (each addresses a known complaint about idle culling):
- a busy kernel, with or without a browser attached: code left running is never killed
  (optionally capped by max_busy_minutes);
- a terminal used recently: terminals are activity like kernels;
- a kernel stuck in `starting` is not activity and never blocks a stop;
- the sweeper's own polls pass `no_track_activity=1`, so they never reset the clock;
- a warning goes out `warning_minutes` before the stop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from neuronlab_core.jupyter import Kernel, Signals, Terminal, moment

Action = Literal["keep", "warn", "stop", "unhealthy"]


@dataclass(frozen=True)
class IdlePolicy:
    idle_minutes: float = 60.0
    grace_minutes: float = 10.0
    warning_minutes: float = 10.0
    max_lifetime_hours: float | None = None
    max_busy_minutes: float | None = None
    unreachable_limit: int = 3


def signals_from_report(report: dict[str, Any]) -> Signals:
    """Signals as the notebook task's activity sidecar stored them (ISO timestamps)."""
    return Signals(
        reachable=bool(report["reachable"]), last_activity=moment(report.get("last_activity")),
        connections=int(report.get("connections", 0)), error=report.get("error"),
        kernels=[Kernel(k["id"], k["execution_state"], moment(k.get("last_activity")), int(k.get("connections", 0)))
                 for k in report.get("kernels", [])],
        terminals=[Terminal(t["name"], moment(t.get("last_activity"))) for t in report.get("terminals", [])],
    )


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    idle_minutes: float | None
    evidence: dict[str, Any]


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def _evidence(signals: Signals, now: datetime, **extra: Any) -> dict[str, Any]:
    data = asdict(signals)
    data["observed_at"] = now
    data.update(extra)
    return data


def decide(signals: Signals, policy: IdlePolicy, now: datetime, ready_since: datetime,
           unreachable_before: int = 0, warned: bool = False) -> Decision:
    """What to do with one READY environment now. `unreachable_before`: consecutive failed polls so far."""
    if signals.benchmark:  # nobody is stopped mid-benchmark (its deadline bounds it: the workflow's own timeout)
        return Decision("keep", f"benchmark running ({signals.benchmark})", 0.0, _evidence(signals, now))
    if not signals.reachable:
        failures = unreachable_before + 1
        evidence = _evidence(signals, now, unreachable_count=failures)
        if failures >= policy.unreachable_limit:
            return Decision("unhealthy", f"notebook unreachable {failures} times in a row ({signals.error})",
                            None, evidence)
        return Decision("keep", f"notebook unreachable ({failures}/{policy.unreachable_limit}): {signals.error}",
                        None, evidence)

    age = now - ready_since
    if policy.max_lifetime_hours is not None and age >= timedelta(hours=policy.max_lifetime_hours):
        return Decision("stop", f"maximum lifetime of {policy.max_lifetime_hours:g} h reached", None,
                        _evidence(signals, now))
    if age < timedelta(minutes=policy.grace_minutes):
        return Decision("keep", f"grace period ({_minutes(age):.1f} of {policy.grace_minutes:g} min)", None,
                        _evidence(signals, now))

    for kernel in signals.kernels:
        if kernel.execution_state != "busy":
            continue
        busy_for = _minutes(now - kernel.last_activity) if kernel.last_activity else 0.0
        if policy.max_busy_minutes is None or busy_for < policy.max_busy_minutes:
            return Decision("keep", f"kernel {kernel.id} is busy", 0.0, _evidence(signals, now))

    moments = [ready_since, signals.last_activity,
               *(k.last_activity for k in signals.kernels if k.execution_state == "idle"),
               *(t.last_activity for t in signals.terminals)]
    last = max(m for m in moments if m is not None)
    idle = max(0.0, _minutes(now - last))
    evidence = _evidence(signals, now, last_activity_used=last, idle_minutes=idle)
    if idle >= policy.idle_minutes:
        return Decision("stop", f"idle for {idle:.1f} min (limit {policy.idle_minutes:g})", idle, evidence)
    if idle >= policy.idle_minutes - policy.warning_minutes and not warned:
        left = policy.idle_minutes - idle
        return Decision("warn", f"idle for {idle:.1f} min: stopping in {left:.1f} min", idle, evidence)
    return Decision("keep", f"active {idle:.1f} min ago", idle, evidence)
