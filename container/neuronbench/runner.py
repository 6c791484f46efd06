"""The timed loop: warm-up excluded, bounded by duration and a minimum sample count, per-thread buffers.

Each thread appends to its own lists (no shared lock in the timed path) and uses model copy
`thread % models`; wall time runs from the start line to the last thread's exit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

Clock = Callable[[], int]
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
# Throughput is reported per window too (20, fewer for a short run: at least 5 inferences each)
WINDOWS = 20
MIN_PER_WINDOW = 5


@dataclass(frozen=True)
class Measurement:
    latencies_ns: np.ndarray
    ends_ns: np.ndarray  # when each inference finished, from the start line
    wall_ns: int
    warmup: int
    models: int
    threads: int

    @property
    def samples(self) -> int:
        return int(self.latencies_ns.size)

    def percentiles_ms(self) -> dict[str, float]:
        values = np.percentile(self.latencies_ns, list(PERCENTILES.values())) / 1e6
        return {name: float(v) for name, v in zip(PERCENTILES, values, strict=True)}

    def throughput(self, batch_size: int) -> float:
        return self.samples * batch_size / (self.wall_ns / 1e9)

    def throughput_windows(self, batch_size: int) -> list[float]:
        """Inferences per second in each of equal windows of the wall time: a run that slowed down (thermal,
        a noisy neighbour, a cache filling) shows here while its mean looks fine."""
        count = max(1, min(WINDOWS, self.samples // MIN_PER_WINDOW))
        finished, _ = np.histogram(self.ends_ns, bins=count, range=(0, self.wall_ns))
        return [float(n) * batch_size / (self.wall_ns / count / 1e9) for n in finished]


def measure(models: Sequence[Callable[..., Any]], inputs: tuple[torch.Tensor, ...], *, duration_s: float,
            min_samples: int, warmup: int, threads: int = 1, synchronize: Callable[[], None] | None = None,
            clock: Clock = time.perf_counter_ns) -> Measurement:
    """Run `threads` threads until `duration_s` has passed and `min_samples` were taken in all."""
    with torch.inference_mode():
        for model in models:
            for _ in range(warmup):
                model(*inputs)
        if synchronize is not None:
            synchronize()
    buffers: list[list[int]] = [[] for _ in range(threads)]
    ends: list[list[int]] = [[] for _ in range(threads)]
    start_line = threading.Barrier(threads + 1)
    per_thread_min = -(-min_samples // threads)  # ceil
    deadline = [0]

    def worker(run: Callable[..., Any], samples: list[int], finished: list[int]) -> None:
        append, append_end = samples.append, finished.append
        with torch.inference_mode():
            start_line.wait()
            end = deadline[0]  # set before the start line opens
            while True:
                t0 = clock()
                run(*inputs)
                if synchronize is not None:
                    synchronize()
                t1 = clock()
                append(t1 - t0)
                append_end(t1)
                if t1 >= end and len(samples) >= per_thread_min:
                    return

    pool = [threading.Thread(target=worker, args=(models[i % len(models)], buffers[i], ends[i]), daemon=True)
            for i in range(threads)]
    for thread in pool:
        thread.start()
    begin = clock()
    deadline[0] = begin + int(duration_s * 1e9)
    start_line.wait()
    for thread in pool:
        thread.join()
    wall = clock() - begin
    latencies = np.concatenate([np.asarray(b, dtype=np.int64) for b in buffers])
    finished = np.concatenate([np.asarray(e, dtype=np.int64) for e in ends]) - begin
    return Measurement(latencies, finished, wall, warmup * len(models), len(models), threads)


def logits_check(reference: Callable[..., Any], candidate: Callable[..., Any],
                 examples: Sequence[tuple[torch.Tensor, ...]], tolerance: float) -> dict[str, Any]:
    """Max |difference| of logits against the CPU reference, and whether predicted classes agree."""
    worst, agree = 0.0, True
    with torch.inference_mode():
        for example in examples:
            expected = reference(*example)[0].float().cpu()
            actual = candidate(*example)[0].float().cpu()
            worst = max(worst, float((expected - actual).abs().max()))
            agree = agree and bool(torch.equal(expected.argmax(-1), actual.argmax(-1)))
    return {"max_abs_diff": worst, "classes_agree": agree, "tolerance": tolerance}
