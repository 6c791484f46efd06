"""The timed loop: warm-up excluded, bounded by duration and a minimum sample count, per-thread buffers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Measurement:
    latencies_ns: np.ndarray
    wall_ns: int
    warmup: int
    threads: int

    @property
    def samples(self) -> int:
        return int(self.latencies_ns.size)

    def percentiles_ms(self) -> dict[str, float]:
        points = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p999": 99.9}
        values = np.percentile(self.latencies_ns, list(points.values())) / 1e6
        return {name: float(v) for name, v in zip(points, values, strict=True)}

    def throughput(self, batch_size: int) -> float:
        return self.samples * batch_size / (self.wall_ns / 1e9)


def measure(run: Callable[..., Any], inputs: tuple[torch.Tensor, ...], *, duration_s: float, min_samples: int,
            warmup: int, threads: int = 1, synchronize: Callable[[], None] = lambda: None,
            heartbeat: Callable[[], None] | None = None) -> Measurement:
    with torch.inference_mode():
        for _ in range(warmup):
            run(*inputs)
        synchronize()
        buffers: list[list[int]] = [[] for _ in range(threads)]
        start_line = threading.Barrier(threads + 1)
        per_thread_min = -(-min_samples // threads)
        deadline_ns: list[int] = [0]

        def worker(samples: list[int]) -> None:
            clock = time.perf_counter_ns
            with torch.inference_mode():
                start_line.wait()
                while True:
                    t0 = clock()
                    run(*inputs)
                    synchronize()
                    t1 = clock()
                    samples.append(t1 - t0)
                    if t1 >= deadline_ns[0] and len(samples) >= per_thread_min:
                        return

        pool = [threading.Thread(target=worker, args=(b,), daemon=True) for b in buffers]
        for thread in pool:
            thread.start()
        begin = time.perf_counter_ns()
        deadline_ns[0] = begin + int(duration_s * 1e9)
        start_line.wait()
        while any(t.is_alive() for t in pool):
            for thread in pool:
                thread.join(timeout=5)
            if heartbeat:
                heartbeat()
        wall = time.perf_counter_ns() - begin
    return Measurement(np.concatenate([np.asarray(b, dtype=np.int64) for b in buffers]), wall, warmup, threads)


def logits_check(reference: Callable[..., Any], candidate: Callable[..., Any],
                 examples: tuple[tuple[torch.Tensor, ...], ...], tolerance: float) -> dict[str, Any]:
    """Max |difference| of logits against the CPU reference, and whether predicted classes agree."""
    worst, agree = 0.0, True
    with torch.inference_mode():
        for example in examples:
            expected = reference(*example)[0].float().cpu()
            actual = candidate(*example)[0].float().cpu()
            worst = max(worst, float((expected - actual).abs().max()))
            agree = agree and bool(torch.equal(expected.argmax(-1), actual.argmax(-1)))
    return {"max_abs_diff": worst, "classes_agree": agree, "tolerance": tolerance}
