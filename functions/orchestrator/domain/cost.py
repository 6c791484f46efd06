"""Monthly cost of one environment for a usage trace: always on (the original pattern) vs NeuronLab.

`python -m orchestrator.domain.cost [--write docs/cost-simulation.md]` prints (or writes) the table of
docs/cost-simulation.md; tests/unit/test_cost.py fails when the doc is stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestrator.domain import instance_types

WEEKS_PER_MONTH = 730 / 168


@cache
def prices() -> dict[str, float]:
    return json.loads(Path(__file__).with_name("prices.json").read_text())


@dataclass(frozen=True)
class Usage:
    hours_per_day: float = 8
    days_per_week: float = 5
    idle_minutes: float = 60  # NeuronLab's idle limit: the tail billed after each working day
    home_gb: float = 5


@dataclass(frozen=True)
class MonthlyCost:
    instance_type: str
    original_always_on: float
    neuronlab: float
    neuronlab_when_stopped: float  # what stays billed for a stopped environment

    @property
    def saving(self) -> float:
        return 1 - self.neuronlab / self.original_always_on


def simulate(instance_type: str, usage: Usage = Usage()) -> MonthlyCost:
    p = prices()
    hours = p["hours_per_month"]
    hourly = instance_types.lookup(instance_type).hourly_usd
    storage = usage.home_gb * p["efs_standard_per_gb_month"] + p["secret_per_month"]
    # The original pattern: the instance (30 GB root), its ALB with two public IPv4 addresses and a
    # NAT gateway per AZ (two), all around the clock.
    original = (hourly * hours + 30 * p["gp3_per_gb_month"] + p["alb_per_hour"] * hours
                + 2 * p["public_ipv4_per_hour"] * hours + 2 * p["nat_gateway_per_hour"] * hours + storage)
    # NeuronLab (this version's stacks): instance and its 100 GB root volume only while running; the
    # environment's ALB and its addresses stay (no NAT gateway).
    working_days = usage.days_per_week * WEEKS_PER_MONTH
    running = working_days * (usage.hours_per_day + usage.idle_minutes / 60)
    always = p["alb_per_hour"] * hours + 2 * p["public_ipv4_per_hour"] * hours + storage
    neuronlab = hourly * running + 100 * p["gp3_per_gb_month"] * running / hours + always
    return MonthlyCost(instance_type, round(original, 2), round(neuronlab, 2), round(always, 2))


def markdown(usage: Usage = Usage()) -> str:
    rows = [
        f"| {c.instance_type} | ${c.original_always_on:,.2f} | ${c.neuronlab:,.2f} | {c.saving:.0%} | "
        f"${c.neuronlab_when_stopped:,.2f} |"
        for c in (simulate(t, usage) for t in ("inf2.xlarge", "inf2.8xlarge", "trn1.2xlarge"))
    ]
    return "\n".join([
        f"Usage: {usage.hours_per_day:g} h a day, {usage.days_per_week:g} days a week, idle limit "
        f"{usage.idle_minutes:g} min, {usage.home_gb:g} GB in /home; {prices()['hours_per_month']} h a month.",
        "",
        "| instance type | original pattern, always on | NeuronLab | saving | NeuronLab, billed while stopped |",
        "|---|---|---|---|---|",
        *rows,
    ]) + "\n"


def write(page: Path) -> None:
    """Replace the table between the cost-table markers of a Markdown page."""
    start, end = "<!-- cost-table:start -->\n", "<!-- cost-table:end -->"
    text = page.read_text()
    before, rest = text.split(start, 1)
    page.write_text(before + start + markdown() + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        write(Path(sys.argv[2]))
    else:
        print(markdown(), end="")
