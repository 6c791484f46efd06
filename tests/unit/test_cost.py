"""The cost simulation and the page that shows it."""

from __future__ import annotations

import pytest

from orchestrator.domain import cost
from tests.conftest import ROOT


def test_the_doc_shows_what_the_code_computes() -> None:
    page = (ROOT / "docs" / "cost-simulation.md").read_text()
    table = page.split("<!-- cost-table:start -->\n", 1)[1].split("<!-- cost-table:end -->", 1)[0]
    assert table == cost.markdown(), "docs/cost-simulation.md is stale: run `make docs`"


@pytest.mark.parametrize("instance_type", ["inf2.xlarge", "inf2.8xlarge", "trn1.2xlarge"])
def test_scaling_to_zero_costs_less_and_keeps_a_floor(instance_type: str) -> None:
    result = cost.simulate(instance_type)
    assert 0 < result.neuronlab_when_stopped < result.neuronlab < result.original_always_on


def test_always_on_is_independent_of_usage_and_neuronlab_grows_with_it() -> None:
    light, heavy = cost.Usage(hours_per_day=2), cost.Usage(hours_per_day=12)
    few, many = cost.simulate("inf2.xlarge", light), cost.simulate("inf2.xlarge", heavy)
    assert few.original_always_on == many.original_always_on
    assert few.neuronlab < many.neuronlab


def test_running_hours_include_the_idle_tail() -> None:
    # 5 days x 730/168 weeks x (8 h + 1 h idle tail) at $0.7582/h, plus the 100 GB volume for those hours
    hours = 5 * 730 / 168 * 9
    prices = cost.prices()
    floor = cost.simulate("inf2.xlarge").neuronlab_when_stopped
    expected = 0.7582 * hours + 100 * prices["gp3_per_gb_month"] * hours / 730 + floor
    assert cost.simulate("inf2.xlarge").neuronlab == pytest.approx(expected, abs=0.01)
