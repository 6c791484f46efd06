"""What AWS runs by itself, which moto does not: EventBridge schedule rules fire, and Step Functions sends its
"Execution Status Change" events to the default bus.

Schedules: every enabled rule with a `rate(N minutes|hours|days)` expression invokes its Lambda targets with
a "Scheduled Event", first one period after LocalCloud saw the rule, as EventBridge does after a rule is
created. LocalCloud's clock can run faster: `LocalCloud(clock_speed=60)`, or NEURONLAB_LOCAL_CLOCK_SPEED for
`neuronlab local up`, makes rate(5 minutes) fire every 5 s; 0 stops the schedules. A `cron(...)` expression is
not fired (logged once): LocalCloud knows NeuronLab's own rate() schedule.
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html

Execution events: on every status a Standard workflow execution takes (RUNNING, SUCCEEDED, FAILED, TIMED_OUT,
ABORTED), the detail AWS sends (executionArn, stateMachineArn, name, status, startDate, stopDate, input,
output, error, cause; dates in epoch milliseconds).
https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
import time
import uuid
from typing import Any

from moto.events.models import events_backends
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

from localcloud.patches import invoke_async

_log = logging.getLogger("localcloud.schedules")
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def period_seconds(expression: str) -> int | None:
    """The period of a rate() expression in seconds; None for anything else (cron)."""
    match = _RATE.fullmatch(expression.strip())
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")] if match else None


class Scheduler:
    """Fires the schedule rules of one account and region, on a clock `speed` times faster than the wall's."""

    def __init__(self, account: str, region: str, speed: float) -> None:
        self.account, self.region, self.speed = account, region, speed
        self._due: dict[str, float] = {}  # rule ARN -> when it fires next (monotonic seconds)
        self._speed = speed
        self._warned: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localcloud-schedules", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.tick(time.monotonic())
            except Exception:  # keep the clock running; the next tick tries again
                _log.exception("schedules: a tick failed")

    def tick(self, now: float) -> list[str]:
        """Fire every rule that is due at `now` (monotonic seconds); returns their names."""
        fired: list[str] = []
        if self.speed != self._speed:  # `speed` is read every tick: a new pace counts from now
            self._speed, self._due = self.speed, {}
        if self.speed <= 0:  # the clock stands still
            return fired
        for bus in list(events_backends[self.account][self.region].event_buses.values()):
            for rule in list(bus.rules.values()):
                if not rule.scheduled_expression or rule.state != "ENABLED":
                    continue
                period = period_seconds(rule.scheduled_expression)
                if period is None:
                    if rule.arn not in self._warned:
                        self._warned.add(rule.arn)
                        _log.warning("schedules: %s is %s; LocalCloud fires rate() schedules only", rule.name,
                                     rule.scheduled_expression)
                    continue
                due = self._due.setdefault(rule.arn, now + period / self.speed)
                if now >= due:
                    self._due[rule.arn] = now + period / self.speed
                    self.fire(rule)
                    fired.append(rule.name)
        return fired

    def fire(self, rule: Any) -> None:
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": self.account, "time": _now().strftime("%Y-%m-%dT%H:%M:%SZ"), "region": self.region,
                 "resources": [rule.arn], "detail": {}}
        for target in rule.targets:
            if target["Arn"].startswith("arn:aws:lambda:"):
                invoke_async(target["Arn"], event)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _millis(moment: datetime.datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def execution_status_changed(execution: Execution, status: str | None = None) -> None:
    """Send the execution's status (or `status`) to the default bus, as Step Functions does for a Standard
    workflow; never for an Express one. A failure to send is logged, never raised into the execution."""
    if getattr(execution.sm_type, "value", execution.sm_type) != "STANDARD":
        return
    status = status or getattr(execution.exec_status, "value", execution.exec_status)
    detail = {
        "executionArn": execution.exec_arn, "stateMachineArn": execution.state_machine_arn, "name": execution.name,
        "status": status, "startDate": _millis(execution.start_date),
        "stopDate": None if status == "RUNNING" else _millis(execution.stop_date),
        "input": json.dumps(execution.input_data),
        "output": json.dumps(execution.output) if execution.output is not None and status != "RUNNING" else None,
        "error": execution.error, "cause": execution.cause,
    }
    try:
        events_backends[execution.account_id][execution.region_name].put_events([{
            "Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
            "Detail": json.dumps(detail), "Resources": [execution.exec_arn]}])
    except Exception:
        _log.exception("schedules: the status event of %s was not sent", execution.exec_arn)


_start = Execution.start
_terminated = BaseExecutionWorkerCommunication.terminated


def _started(self: Execution) -> None:
    # RUNNING goes out before the worker starts: a fast execution may end before start() returns
    if self.exec_worker is None:
        execution_status_changed(self, "RUNNING")
    _start(self)


def _ended(self: BaseExecutionWorkerCommunication) -> None:
    _terminated(self)
    execution_status_changed(self.execution)


def apply() -> None:
    if Execution.start is _started:
        return
    Execution.start = _started  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = _ended  # type: ignore[method-assign]
