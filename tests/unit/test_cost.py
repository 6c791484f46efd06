"""The cost model (from the templates' resources and the price tables) and the page that shows it."""

from __future__ import annotations

import pytest
from neuronlab_core import instance_types
from neuronlab_tools import cost

from tests.conftest import ROOT


def test_the_doc_shows_what_the_code_computes() -> None:
    page = (ROOT / "docs" / "cost.md").read_text()
    table = page.split("<!-- cost-table:start -->\n", 1)[1].split("<!-- cost-table:end -->", 1)[0]
    assert table == cost.markdown(), "docs/cost.md is stale: run `make docs`"


def test_every_resource_type_in_the_templates_has_a_rule() -> None:
    for resource in cost.orchestrator() + cost.environment():
        assert resource.kind in cost.RULES or resource.kind in cost.PER_USE, resource


def test_a_resource_type_without_a_rule_is_refused_not_priced_at_zero() -> None:
    gateway = cost.Resource("Endpoint", "AWS::EC2::VPCEndpoint", {})
    with pytest.raises(cost.UnpricedResource, match="AWS::EC2::VPCEndpoint"):
        cost.resource_lines([gateway], cost.Scenario())


def test_a_stopped_environment_pays_nothing_by_the_hour() -> None:
    lines = cost.resource_lines(cost.environment(), cost.Scenario(home_gb=5))
    assert sorted(line.basis for line in lines) == ["EFS Standard GB-month", "secret-month"]
    assert cost.total(lines) == pytest.approx(5 * 0.30 + 0.40)


def test_the_orchestrator_floor_is_the_shared_internal_load_balancer_only() -> None:
    lines = cost.resource_lines(cost.orchestrator(), cost.Scenario())
    assert [line.basis for line in lines] == ["load balancer hour"]  # internal: no public IPv4 of its own


def test_the_warm_pool_adds_the_stopped_instances_volume() -> None:
    plain = cost.total(cost.resource_lines(cost.environment(), cost.Scenario()))
    warm = cost.total(cost.resource_lines(cost.environment(), cost.Scenario(conditions=frozenset({"UseWarmPool"}))))
    assert warm - plain == pytest.approx(100 * cost.prices()["gp3_per_gb_month"])


def test_running_hours_bill_instance_volume_and_address_in_proportion() -> None:
    # 5 days x 730/168 weeks x (8 h + 1 h idle tail)
    usage = cost.Usage()
    hours = 5 * 730 / 168 * 9
    assert usage.running_hours == pytest.approx(hours)
    p = cost.prices()
    running = cost.total(cost.resource_lines(cost.environment(), cost.Scenario("inf2.xlarge", hours)))
    expected = (0.7582 * hours + 100 * p["gp3_per_gb_month"] * hours / 730 + p["public_ipv4_per_hour"] * hours
                + 5 * p["efs_standard_per_gb_month"] + p["secret_per_month"])
    assert running == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("instance_type", cost.TYPES_IN_DOC)
def test_scale_to_zero_beats_the_original_pattern_and_costs_grow_with_use(instance_type: str) -> None:
    rows = {row[0]: row for row in cost.summarize().rows}
    _, original, full_month, trace, saving = rows[instance_type]
    assert trace < full_month < original
    assert 0.5 < saving < 1


def test_original_pattern_counts_two_nat_gateways_and_a_public_load_balancer() -> None:
    always_on = cost.Scenario("inf2.xlarge", 730, public_instance_address=False)
    lines = cost.resource_lines(cost.original_pattern(), always_on)
    bases = [line.basis for line in lines]
    assert bases.count("NAT gateway hour + its public IPv4") == 2
    assert "public IPv4 hour" in bases and "instance public IPv4" not in [line.item for line in lines]


def test_prices_are_per_region_and_unknown_regions_have_none() -> None:
    inf2 = instance_types.lookup("inf2.xlarge")
    assert inf2.hourly_usd("us-east-1") == pytest.approx(0.7582)
    assert inf2.hourly_usd("ap-southeast-7") is None
