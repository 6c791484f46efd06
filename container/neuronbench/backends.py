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


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def neuron_cores() -> int:
    """NeuronCores visible to this process (NEURON_RT_VISIBLE_CORES narrows them)."""
    visible = os.environ.get("NEURON_RT_VISIBLE_CORES")
    if visible:
        first, _, last = visible.partition("-")
        return int(last or first) - int(first) + 1 if last else len(visible.split(","))
    return 2 * len(glob.glob("/dev/neuron*"))  # Inf2/Trn1: two cores per device


def intra_op_threads(threads: int) -> int:
    """torch threads per inference on CPU so that concurrent threads never oversubscribe the cores."""
    return max(1, cores() // threads)


def prepare(backend: str, model: LoadedModel, copies: int, cache_dir: Path | None,
            compiler_args: list[str] | None = None) -> tuple[list[Runner], Callable[[], None] | None]:
    """`copies` callables that each run one inference, and a synchronize function (None: not needed).

    Neuron loads each copy separately so the runtime places them on different NeuronCores; on
    CUDA and CPU the copies share one module (threads still run concurrently).
    """
    example = model.examples[0]
    if backend == "neuron":
        import torch_neuronx  # type: ignore[import-not-found]

        shapes = [tuple(t.shape) for t in example]
        key = hashlib.sha256(f"{model.name}{shapes}{compiler_args or []}".encode()).hexdigest()[:16]
        artifact = (cache_dir or Path.home() / ".cache" / "neuronbench") / f"{key}.pt"
        if not artifact.exists():  # compiled once per model and input shape, kept on EFS /home
            artifact.parent.mkdir(parents=True, exist_ok=True)
            torch.jit.save(torch_neuronx.trace(model.module, example, compiler_args=compiler_args or None),
                           str(artifact))
        return [torch.jit.load(str(artifact)) for _ in range(copies)], None
    if backend == "cuda":
        module = model.module.to("cuda")

        def run_cuda(*inputs: torch.Tensor) -> Any:
            return module(*(t.to("cuda", non_blocking=True) for t in inputs))

        return [run_cuda] * copies, torch.cuda.synchronize
    return [model.module] * copies, None
