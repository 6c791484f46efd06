"""Detection figures on synthetic series, many seeds (issue 13): how soon a 10 % step under 3 % noise is
confirmed and where, how often stationary noise, a single outlier or a slow drift raise a confirmed change.

Writes bench-results/detection.json and prints a summary."""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

from results import write

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))

from orchestrator.domain import detection  # noqa: E402

SEEDS = 50


def confirmed(values: list[float]) -> list[tuple[int, detection.Change]]:
    runs = [detection.Run(f"{i}", {"throughput": v}) for i, v in enumerate(values)]
    return [(i, c) for i, a in detection.replay(runs) for c in a.confirmed]


def noisy(rng: random.Random, level: float, n: int, relative: float = 0.03) -> list[float]:
    return [rng.gauss(level, level * relative) for _ in range(n)]


def main() -> None:
    began = time.perf_counter()
    delays, misplaced, missed, stationary, outlier, drift = [], 0, 0, 0, 0, 0
    for seed in range(SEEDS):
        rng = random.Random(seed)
        found = [(i, c) for i, c in confirmed(noisy(rng, 1000, 30) + noisy(rng, 900, 15)) if c.regression]
        at_step = [(i, c) for i, c in found if abs(int(c.first) - 30) <= 2]
        if at_step:
            delays.append(at_step[0][0] - 30 + 1)  # the step's first run counts as 1
            misplaced += int(at_step[0][1].first) != 30
        else:
            missed += 1
        stationary += len(confirmed(noisy(random.Random(1000 + seed), 1000, 60)))
        values = noisy(random.Random(2000 + seed), 1000, 40)
        values[25] = 700.0
        outlier += len(confirmed(values))
        rng = random.Random(3000 + seed)
        values = noisy(rng, 1000, 20) + [rng.gauss(1000 * (1 - 0.005 * k), 30) for k in range(1, 41)]
        drift += any(c.regression for _, c in confirmed(values))
    results = {
        "seeds": SEEDS,
        "step_10pct_noise_3pct": {"found": SEEDS - missed, "runs_at_new_level_when_confirmed": {
            "median": statistics.median(delays), "max": max(delays)}, "first_bad_run_off_by_1_or_2": misplaced},
        "stationary_60_runs": {"confirmed_changes": stationary, "runs": SEEDS * 60},
        "single_30pct_outlier_in_40_runs": {"confirmed_changes": outlier},
        "drift_0.5pct_per_run_over_40_runs": {"found": drift},
        "seconds": round(time.perf_counter() - began, 1),
    }
    out = write("detection", results)
    print(json.dumps(results, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
