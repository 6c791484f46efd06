"""Which configurations each scenario runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    models: int
    threads: int


LATENCY = Config(models=1, threads=1)


def throughput_sweep(backend: str, neuron_cores: int, max_models: int | None = None,
                     max_threads: int | None = None) -> list[Config]:
    """models x threads, threads >= models so every copy is used: 1 copy per NeuronCore at most on
    Neuron, up to 2 copies elsewhere; 1 or 2 threads per copy."""
    limit = max(1, neuron_cores) if backend == "neuron" else 2
    if max_models:
        limit = min(limit, max_models)
    configs = [Config(m, m * per) for m in range(1, limit + 1) for per in (1, 2)]
    return [c for c in configs if max_threads is None or c.threads <= max_threads]
