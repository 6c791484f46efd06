"""The one table of instance types: validation, task sizing and prices all read it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any


class UnsupportedInstanceType(ValueError):
    """The instance type is not in the table (the message names the field and the rule)."""

# The ECS agent and the OS keep part of the host; what is left is split between the
# notebook task and the benchmark task, which run side by side on the one instance.
_AGENT_CPU_UNITS = 256
_HOST_MEMORY_SHARE = 0.9
_AGENT_MEMORY_MIB = 512


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    neuron_devices: int
    neuron_cores: int
    prices: dict[str, float] = field(default_factory=dict, compare=False)  # region -> on-demand USD/hour

    def hourly_usd(self, region: str | None = None) -> float | None:
        """On-demand price in the region (default: this process's region); None where the table has none."""
        return self.prices.get(region or current_region())

    @property
    def task_cpu(self) -> int:
        """CPU units for each of the two tasks (notebook, benchmark)."""
        return (self.vcpus * 1024 - _AGENT_CPU_UNITS) // 2

    @property
    def task_memory_mib(self) -> int:
        """Hard memory limit (MiB) for each of the two tasks."""
        return (int(self.memory_mib * _HOST_MEMORY_SHARE) - _AGENT_MEMORY_MIB) // 2


@cache
def _table() -> dict:
    return json.loads((Path(__file__).with_name("instance_types.json")).read_text())


def current_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def supported() -> list[str]:
    return sorted(_table()["types"])


def lookup(name: str) -> InstanceType:
    """The instance type, or UnsupportedInstanceType naming the field and the rule."""
    table = _table()
    family = name.split(".", 1)[0]
    if family in table["refused"]:
        raise UnsupportedInstanceType(f"instanceType: {name} is not supported: {table['refused'][family]}")
    spec = table["types"].get(name)
    if spec is None:
        raise UnsupportedInstanceType(f"instanceType: {name!r} is not one of {', '.join(supported())}")
    return InstanceType(name=name, prices=spec["hourly_usd"],
                        **{k: v for k, v in spec.items() if k != "hourly_usd"})


def accelerator_hourly_usd(instance_type: str, backend: str) -> float | None:
    """The hourly price a run is priced at: its instance type's, for a run on the accelerator only. A CPU run
    (LocalCloud's, or --backend cpu on inf2) did not measure what the accelerator costs per inference; a type
    outside the table has no price here."""
    if backend == "cpu" or instance_type not in supported():
        return None
    return lookup(instance_type).hourly_usd()


def cheapest_first(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with a `cost_per_million_usd`, cheapest first; unpriced ones (None or absent) last."""
    return sorted(rows, key=lambda r: (r.get("cost_per_million_usd") is None, r.get("cost_per_million_usd") or 0))


def cost_per_million(hourly_usd: float, throughput: float) -> float | None:
    """USD per one million inferences at the measured throughput (inferences/s)."""
    if throughput <= 0:
        return None
    return hourly_usd / (throughput * 3600) * 1_000_000
