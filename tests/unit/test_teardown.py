"""Settling a delete: DELETING until the stack is gone, FAILED with the reason when it fails or overruns.

moto deletes stacks synchronously, so a delete still in progress or failed is faked by replacing
cloudformation.describe (and failure_reason): the one thing moto cannot produce here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.adapters import cloudformation
from orchestrator.adapters.cloudformation import StackState
from orchestrator.adapters.dynamodb import EnvironmentStore
from orchestrator.domain import lifecycle
from orchestrator.models.record import EnvironmentRecord, record_from_item, to_item
from orchestrator.settings import settings

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _deleting(requested: datetime) -> EnvironmentRecord:
    store = EnvironmentStore(settings().environments_table)
    store.create(record_from_item({
        "name": "gone", "state": "DELETING", "instanceType": "inf2.xlarge", "image": "x",
        "createdAt": requested.isoformat(), "updatedAt": requested.isoformat(),
        "deleteRequestedAt": requested.isoformat(), "url": "https://d1.cloudfront.net/gone/"}))
    return store.get("gone")


def _stack(monkeypatch: pytest.MonkeyPatch, status: str | None, reason: str = "") -> None:
    monkeypatch.setattr(cloudformation, "describe", lambda name: StackState(status=status))
    monkeypatch.setattr(cloudformation, "failure_reason", lambda name: reason)


def test_a_delete_in_progress_stays_deleting(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _stack(monkeypatch, "DELETE_IN_PROGRESS")
    assert lifecycle.settle_deletion(_deleting(NOW - timedelta(minutes=10)), NOW).state == "DELETING"


def test_a_delete_past_its_deadline_is_failed_with_the_reason(tables: dict[str, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _stack(monkeypatch, "DELETE_IN_PROGRESS")
    settled = to_item(lifecycle.settle_deletion(_deleting(NOW - timedelta(hours=2)), NOW))
    assert settled["state"] == "FAILED" and "still DELETE_IN_PROGRESS after 1:30:00" in settled["failureReason"]


def test_a_failed_delete_keeps_the_first_failure(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _stack(monkeypatch, "DELETE_FAILED", "Distribution (AWS::CloudFront::Distribution): still in use")
    settled = to_item(lifecycle.settle_deletion(_deleting(NOW - timedelta(minutes=5)), NOW))
    assert settled["failureReason"] == "delete failed: Distribution (AWS::CloudFront::Distribution): still in use"


def test_a_finished_delete_is_deleted_and_forgets_the_url(tables: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _stack(monkeypatch, None)
    settled = to_item(lifecycle.settle_deletion(_deleting(NOW - timedelta(minutes=5)), NOW))
    assert settled["state"] == "DELETED" and "url" not in settled


def test_the_sweep_settles_deleting_environments(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _stack(monkeypatch, None)
    _deleting(NOW - timedelta(minutes=5))
    decisions = lifecycle.sweep(NOW)
    assert [(d.environment, d.action, d.reason) for d in decisions] == [("gone", "delete", "DELETED")]
