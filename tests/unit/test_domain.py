"""Plain domain rules: instance types, task sizing, cost (change detection: test_detection.py)."""

from __future__ import annotations

import pytest
from neuronlab_core import instance_types
from neuronlab_core.instance_types import UnsupportedInstanceType, cost_per_million


@pytest.mark.parametrize("name", instance_types.supported())
def test_two_tasks_fit_on_every_supported_instance(name: str) -> None:
    spec = instance_types.lookup(name)
    # Given the notebook and the benchmark task side by side on one instance
    # Then both fit its vCPUs and memory, with room left for the ECS agent
    assert 2 * spec.task_cpu < spec.vcpus * 1024
    assert 2 * spec.task_memory_mib < spec.memory_mib
    assert spec.task_cpu >= 512 and spec.task_memory_mib >= 2048


def test_inf2_xlarge_task_fits_where_the_original_pattern_did_not() -> None:
    spec = instance_types.lookup("inf2.xlarge")
    # the seed asked 10 vCPU / 32 GiB on a 4 vCPU / 16 GiB instance
    assert spec.task_cpu <= 4 * 1024 and spec.task_memory_mib <= 16 * 1024
    assert spec.neuron_devices == 1


def test_inf1_is_refused_with_the_reason() -> None:
    with pytest.raises(UnsupportedInstanceType, match=r"instanceType: inf1.xlarge .*Inf2/Trn1"):
        instance_types.lookup("inf1.xlarge")


def test_unknown_instance_type_names_the_field_and_the_choices() -> None:
    with pytest.raises(UnsupportedInstanceType, match=r"instanceType: 'm5.large' is not one of .*inf2.xlarge"):
        instance_types.lookup("m5.large")


def test_large_types_mount_every_neuron_device() -> None:
    assert instance_types.lookup("inf2.48xlarge").neuron_devices == 12
    assert instance_types.lookup("trn1.32xlarge").neuron_devices == 16


def test_cost_per_million_inferences() -> None:
    # $0.7582/h at 2011 inferences/s (the seed's figure) -> 0.7582 / (2011 * 3600) * 1e6
    assert cost_per_million(0.7582, 2011.0) == pytest.approx(0.10473, rel=1e-3)
    assert cost_per_million(0.7582, 0.0) is None


def test_the_capacity_template_offers_exactly_the_table_s_types() -> None:
    from samtranslator.yaml_helper import yaml_parse

    from tests.conftest import ROOT

    parameters = yaml_parse((ROOT / "nested" / "capacity.yml").read_text())["Parameters"]
    assert sorted(parameters["InstanceType"]["AllowedValues"]) == instance_types.supported()


def test_the_notebook_template_can_mount_every_device_of_the_largest_type() -> None:
    from samtranslator.yaml_helper import yaml_parse

    from tests.conftest import ROOT

    template = yaml_parse((ROOT / "nested" / "notebook.yml").read_text())
    most = max(instance_types.lookup(t).neuron_devices for t in instance_types.supported())
    assert template["Parameters"]["NeuronDevices"]["MaxValue"] >= most
    devices = template["Resources"]["NotebookTaskDefinition"]["Properties"]["ContainerDefinitions"][0][
        "LinuxParameters"]["Devices"]
    assert len(devices) >= most  # /dev/neuron0 plus one conditional entry per further device


@pytest.mark.parametrize("name", instance_types.supported())
def test_every_type_has_two_neuron_cores_per_device_and_a_price(name: str) -> None:
    spec = instance_types.lookup(name)
    assert spec.neuron_cores == 2 * spec.neuron_devices
    assert spec.hourly_usd("us-east-1") and spec.hourly_usd("us-east-1") > 0


def test_trn1_is_supported() -> None:
    assert instance_types.lookup("trn1.2xlarge").neuron_devices == 1
