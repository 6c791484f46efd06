"""What AWS enforces about the environment's instance, held against the nested templates. Sources are in
docs/aws-facts.md; moto checks none of this."""

from __future__ import annotations

import re

from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT

CAPACITY = yaml_parse((ROOT / "nested" / "capacity.yml").read_text())["Resources"]
# ECS container agent variables this project sets, as the ECS developer guide spells them
KNOWN_AGENT_VARIABLES = {"ECS_CLUSTER", "ECS_ENABLE_TASK_IAM_ROLE", "ECS_WARM_POOLS_CHECK"}


def user_data() -> str:
    sub = CAPACITY["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    return sub if isinstance(sub, str) else sub[0]


def test_user_data_sets_only_agent_variables_ecs_knows() -> None:
    """A misspelt variable (ECS_WARM_POOL_CHECK) is silently ignored by the agent."""
    variables = set(re.findall(r"\b(ECS_[A-Z_]+)=", user_data()))
    assert variables <= KNOWN_AGENT_VARIABLES, variables - KNOWN_AGENT_VARIABLES
    assert "ECS_WARM_POOLS_CHECK=true" in user_data()


def test_bridge_mode_tasks_get_their_task_role() -> None:
    """Without ECS_ENABLE_TASK_IAM_ROLE a bridge-mode task falls back to the instance role."""
    assert "ECS_ENABLE_TASK_IAM_ROLE=true" in user_data()


def test_containers_cannot_reach_the_instance_metadata() -> None:
    options = CAPACITY["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["MetadataOptions"]
    assert options == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}


def test_the_warm_pool_does_not_reuse_instances_on_scale_in() -> None:
    """ECS refuses ReuseOnScaleIn on the warm pool of an ECS Auto Scaling group."""
    pool = CAPACITY["StoppedInstancePool"]["Properties"]
    assert not pool.get("InstanceReusePolicy", {}).get("ReuseOnScaleIn", False)


def test_a_failed_first_create_leaves_no_file_system() -> None:
    """Retain would keep /home of a start that failed on its first create, recorded nowhere."""
    home = yaml_parse((ROOT / "nested" / "notebook.yml").read_text())["Resources"]["FileSystem"]
    assert home["DeletionPolicy"] == "RetainExceptOnCreate" and home["UpdateReplacePolicy"] == "Retain"


def test_every_container_is_told_its_region() -> None:
    """ECS agents before 1.104.0 set no AWS_REGION in containers, and the hop limit keeps IMDS out of reach: a
    container that calls AWS (the activity sidecar, the benchmark's report, boto3 in a notebook) learns the region
    from its task definition alone."""
    notebook = yaml_parse((ROOT / "nested" / "notebook.yml").read_text())["Resources"]
    containers = [(name, c) for name in ("NotebookTaskDefinition", "BenchmarkTaskDefinition")
                  for c in notebook[name]["Properties"]["ContainerDefinitions"]]
    assert len(containers) == 3
    for name, container in containers:
        variables = {e["Name"]: e["Value"] for e in container.get("Environment", [])}
        assert variables.get("AWS_REGION") == {"Ref": "AWS::Region"}, f"{name}/{container['Name']}"
        assert variables.get("AWS_DEFAULT_REGION") == {"Ref": "AWS::Region"}, f"{name}/{container['Name']}"
