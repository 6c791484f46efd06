"""Backends: neuron (torch_neuronx), cuda, cpu. `auto` picks the best one present."""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from neuronbench.models import LoadedModel

Runner = Callable[..., Any]


def available() -> list[str]:
    found = []
    if importlib.util.find_spec("torch_neuronx") and glob.glob("/dev/neuron*"):
        found.append("neuron")
    if torch.cuda.is_available():
        found.append("cuda")
    found.append("cpu")
    return found


def choose(requested: str) -> str:
    options = available()
    if requested == "auto":
        return options[0]
    if requested not in options:
        raise RuntimeError(f"backend {requested} is not available here (available: {', '.join(options)})")
    return requested


def prepare(backend: str, model: LoadedModel, cache_dir: Path | None) -> tuple[Runner, Callable[[], None]]:
    """The callable that runs one inference on the backend, and a synchronize function."""
    example = model.examples[0]
    if backend == "neuron":
        import torch_neuronx  # type: ignore[import-not-found]

        key = hashlib.sha256(f"{model.name}{[tuple(t.shape) for t in example]}".encode()).hexdigest()[:16]
        artifact = (cache_dir / f"{key}.pt") if cache_dir else None
        if artifact and artifact.exists():  # compiled once per model and shape, kept on /home
            traced = torch.jit.load(str(artifact))
        else:
            traced = torch_neuronx.trace(model.module, example)
            if artifact:
                artifact.parent.mkdir(parents=True, exist_ok=True)
                torch.jit.save(traced, str(artifact))
        return traced, lambda: None
    if backend == "cuda":
        module = model.module.to("cuda")

        def run_cuda(*inputs: torch.Tensor) -> Any:
            return module(*(t.to("cuda", non_blocking=True) for t in inputs))

        return run_cuda, torch.cuda.synchronize
    return model.module, lambda: None


def cpu_threads(models: int, threads: int) -> int:
    """Intra-op threads per inference so that models x threads do not oversubscribe the cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, threads))
