"""Benchmark change detection on synthetic series (bench/detection.py measures the same over many seeds)."""

from __future__ import annotations

import random

import pytest

from orchestrator.domain import detection
from orchestrator.domain.detection import Run


def feed(series: list[dict[str, float]], fingerprints: dict[int, dict[str, str]] | None = None
         ) -> tuple[list[tuple[int, detection.Change]], list[str]]:
    """Runs arriving one by one as StoreMetrics sees them; returns (index of the run that confirmed a change,
    the change) and every run's verdict."""
    runs = [Run(f"r{i:03d}", values, (fingerprints or {}).get(i, {"neuronx-cc": "2.14"}))
            for i, values in enumerate(series)]
    analyses = detection.replay(runs)
    return [(i, c) for i, a in analyses for c in a.confirmed], [a.verdict for _, a in analyses]


def throughputs(values: list[float]) -> list[dict[str, float]]:
    return [{"throughput": v} for v in values]


def noisy(rng: random.Random, level: float, n: int, relative: float = 0.03) -> list[float]:
    return [rng.gauss(level, level * relative) for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_10_percent_step_under_3_percent_noise_is_confirmed_within_a_few_runs(seed: int) -> None:
    rng = random.Random(seed)
    versions = {i: {"neuronx-cc": "2.15" if i >= 30 else "2.14"} for i in range(45)}
    found, verdicts = feed(throughputs(noisy(rng, 1000, 30) + noisy(rng, 900, 15)), versions)
    regressions = [(i, c) for i, c in found if c.regression]
    assert len(regressions) == 1, found
    confirmed_at, change = regressions[0]
    assert change.first == "r030" and change.measure == "throughput"  # the first bad run, named
    assert 32 <= confirmed_at <= 36  # MIN_AFTER runs after the step at the earliest
    assert change.change == pytest.approx(-0.10, abs=0.03)
    assert change.fingerprint_changes == {"neuronx-cc": ["2.14", "2.15"]}  # the cause to look at
    assert "suspect" in verdicts[30:confirmed_at + 1]  # the first tier flagged it before it was confirmed


def test_one_outlier_is_a_suspect_run_not_a_change() -> None:
    rng = random.Random(7)
    values = noisy(rng, 1000, 40)
    values[25] = 700.0
    found, verdicts = feed(throughputs(values))
    assert found == []
    assert verdicts[25] == "suspect"


def test_slow_drift_is_found() -> None:
    rng = random.Random(3)
    values = noisy(rng, 1000, 20) + [rng.gauss(1000 * (1 - 0.005 * k), 30) for k in range(1, 41)]  # -0.5 % a run
    found, _ = feed(throughputs(values))
    assert any(c.regression for _, c in found)


def test_a_stationary_series_raises_nothing() -> None:
    found, verdicts = feed(throughputs(noisy(random.Random(11), 1000, 60)))
    assert found == [] and verdicts[:5] == ["baseline"] * 5


def test_a_lasting_regression_becomes_the_new_normal_without_hiding_the_next() -> None:
    """After a confirmed change the segment restarts: the regressed level is compared with itself (no endless
    suspects), and a second step is found as its own change."""
    rng = random.Random(5)
    found, verdicts = feed(throughputs(noisy(rng, 1000, 25) + noisy(rng, 850, 25) + noisy(rng, 700, 15)))
    assert [c.first for _, c in found if c.regression] == ["r025", "r050"]
    assert verdicts[40:50].count("suspect") <= 1


def test_latency_measures_regress_upwards() -> None:
    rng = random.Random(2)
    series = [{"throughput": t, "p50_ms": 10.0 * t / 1000, "p99_ms": p}
              for t, p in zip(noisy(rng, 1000, 40), noisy(rng, 20, 25) + noisy(rng, 24, 15), strict=True)]
    found, _ = feed(series)
    assert [(c.measure, c.first, c.regression) for _, c in found] == [("p99_ms", "r025", True)]


def test_the_suspect_bound_widens_with_the_noise() -> None:
    measure = detection.MEASURES[0]
    quiet = [1000.0, 1002.0, 998.0, 1001.0, 999.0, 1000.0]
    loud = [1000.0, 1100.0, 900.0, 1080.0, 920.0, 1000.0]
    assert detection.suspect(quiet, 930.0, measure) is not None
    assert detection.suspect(loud, 930.0, measure) is None
    assert detection.suspect(quiet[:4], 500.0, measure) is None  # too few runs for a bound


@pytest.mark.parametrize("values", [[0.0] * 12, [0.0] * 8 + [5.0] * 4, [1e-90] * 6 + [0.0] * 6, [1e15] * 6 + [0.0] * 6])
def test_degenerate_series_are_judged_without_error(values: list[float]) -> None:
    """Measurements of 0 and the extremes a result may hold (what an import may send, schemathesis found)."""
    found, verdicts = feed(throughputs(values))
    assert len(verdicts) == len(values)
    assert all(c.measure == "throughput" for _, c in found)
