"""Names of the per-environment AWS resources, derived from the environment name in one place."""

from __future__ import annotations

from dataclasses import dataclass

GROUP_PREFIX = "neuronlab-"  # every environment's Auto Scaling group is GROUP_PREFIX + its name


@dataclass(frozen=True)
class EnvironmentNames:
    environment: str
    stack_prefix: str = "neuronlab-env-"

    @property
    def stack(self) -> str:
        return f"{self.stack_prefix}{self.environment}"

    @property
    def cluster(self) -> str:
        return f"neuronlab-{self.environment}"

    @property
    def capacity_provider(self) -> str:
        return f"neuronlab-{self.environment}-capacity"

    @property
    def auto_scaling_group(self) -> str:
        return f"{GROUP_PREFIX}{self.environment}"

    @property
    def benchmark_family(self) -> str:
        return f"neuronlab-{self.environment}-benchmark"

    @property
    def token_secret(self) -> str:
        return f"neuronlab/{self.environment}/jupyter-token"

    service = "notebook"
