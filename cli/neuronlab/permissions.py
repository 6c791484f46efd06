"""Every AWS call each function of template.yaml makes, with the resource it acts on.

`neuronlab doctor` asks IAM (iam:SimulatePrincipalPolicy) whether each function's role allows these, so a
missing permission shows before a start fails halfway. tests/workflow/test_doctor.py records the calls the
functions really make on LocalCloud and fails when one is missing here.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE = "doctor-probe"  # an environment name, for the ARNs of per-environment resources


@dataclass(frozen=True)
class Deployment:
    """What the ARNs are made of: read from the orchestrator stack."""

    region: str
    account: str
    environments_table: str
    activity_table: str
    benchmarks_table: str
    idempotency_table: str
    artifact_bucket: str
    state_machine_arn: str
    shared_network_stack_id: str
    image_repository: str


def calls(d: Deployment) -> dict[str, list[tuple[str, str]]]:
    """{function logical id: [(IAM action, resource ARN)]}."""
    r, a, env = d.region, d.account, PROBE

    def arn(service: str, resource: str) -> str:
        return f"arn:aws:{service}:{r}:{a}:{resource}"

    environments = arn("dynamodb", f"table/{d.environments_table}")
    benchmarks = arn("dynamodb", f"table/{d.benchmarks_table}")
    stack = arn("cloudformation", f"stack/neuronlab-env-{env}/00000000-0000-0000-0000-000000000000")
    group = arn("autoscaling", f"autoScalingGroup:0f1e2d3c:autoScalingGroupName/neuronlab-{env}")
    service = arn("ecs", f"service/neuronlab-{env}/notebook")
    secret = arn("secretsmanager", f"secret:neuronlab/{env}/jupyter-token-AbCdEf")
    bus = arn("events", "event-bus/default")
    execution = d.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{env}-1"
    record = [("dynamodb:GetItem", environments), ("dynamodb:UpdateItem", environments)]
    # a run into the history: its series' window, the run, a confirmed change on its first run, the regressions
    judge = [("dynamodb:Query", benchmarks), ("dynamodb:PutItem", benchmarks), ("dynamodb:UpdateItem", benchmarks),
             ("events:PutEvents", bus)]
    teardown = [("cloudformation:DeleteStack", stack), ("cloudformation:DescribeStacks", stack),
                ("cloudformation:DescribeStackEvents", stack), ("secretsmanager:DeleteSecret", secret)]
    scale = [("ecs:UpdateService", service), ("autoscaling:UpdateAutoScalingGroup", group),
             ("autoscaling:SetInstanceProtection", group), ("autoscaling:DescribeAutoScalingGroups", "*"),
             ("events:PutEvents", bus)]
    return {
        "CheckImageFunction": [("ecr:DescribeImages", arn("ecr", f"repository/{d.image_repository}"))],
        "DeployStacksFunction": [
            *record, ("cloudformation:CreateStack", stack), ("cloudformation:UpdateStack", stack),
            ("cloudformation:TagResource", stack),  # CreateStack with tags
            ("cloudformation:DescribeStacks", stack), ("cloudformation:DescribeStacks", d.shared_network_stack_id),
            ("s3:GetObject", f"arn:aws:s3:::{d.artifact_bucket}/nested/0123456789abcdef/notebook.yml"),
            ("s3:PutObject", f"arn:aws:s3:::{d.artifact_bucket}/nested/0123456789abcdef/notebook.yml"),
            ("secretsmanager:DescribeSecret", secret), ("secretsmanager:CreateSecret", secret),
            ("secretsmanager:GetRandomPassword", "*"), ("ecs:UpdateService", service),
            ("autoscaling:UpdateAutoScalingGroup", group), ("ec2:DescribeInstanceTypeOfferings", "*"),
            ("ec2:DescribeSubnets", "*"), ("elasticloadbalancing:DescribeRules", "*")],
        "CheckStackFunction": [*record, ("cloudformation:DescribeStacks", stack),
                               ("cloudformation:DescribeStackEvents", stack),
                               ("autoscaling:UpdateAutoScalingGroup", group),
                               ("autoscaling:DescribeScalingActivities", "*")],
        "CheckNotebookFunction": [*record, ("ecs:DescribeServices", service),
                                  ("elasticloadbalancing:DescribeTargetHealth", "*"),
                                  ("autoscaling:UpdateAutoScalingGroup", group),
                                  ("autoscaling:DescribeScalingActivities", "*")],
        "MarkReadyFunction": record,
        "RunBenchmarkFunction": [*record, ("ecs:RunTask", arn("ecs", f"task-definition/neuronlab-{env}-benchmark:1"))],
        "StoreMetricsFunction": [*record, *judge,  # and where the task ran, from ECS
                                 ("ecs:DescribeTasks", arn("ecs", f"task/neuronlab-{env}/0123456789abcdef")),
                                 ("ecs:DescribeContainerInstances",
                                  arn("ecs", f"container-instance/neuronlab-{env}/0123456789abcdef"))],
        "RecordBenchmarkFailureFunction": [*record, ("events:PutEvents", bus),
                                           ("ecs:StopTask", arn("ecs", f"task/neuronlab-{env}/0123456789abcdef"))],
        "MarkFailedFunction": [*record, ("ecs:UpdateService", service), ("autoscaling:UpdateAutoScalingGroup", group),
                               ("autoscaling:SetInstanceProtection", group),
                               ("autoscaling:DescribeAutoScalingGroups", "*")],
        "BenchmarkTaskStoppedFunction": [("dynamodb:GetItem", environments),
                                         ("states:SendTaskFailure", d.state_machine_arn)],
        "IdleSweepFunction": [*record, ("dynamodb:Scan", environments), *scale, *teardown,
                              ("states:DescribeExecution", execution), ("autoscaling:DeleteAutoScalingGroup", group),
                              ("dynamodb:GetItem", arn("dynamodb", f"table/{d.activity_table}")),
                              ("ecs:StopTask", arn("ecs", f"task/neuronlab-{env}/0123456789abcdef"))],
        "ApiFunction": [
            *record, ("dynamodb:PutItem", environments), ("dynamodb:Scan", environments),
            ("dynamodb:Query", f"{benchmarks}/index/byEnvironment"), ("dynamodb:Query", f"{benchmarks}/index/byKind"),
            ("dynamodb:Query", f"{benchmarks}/index/byModel"), *judge,  # POST /benchmarks judges an imported run
            ("dynamodb:GetItem", benchmarks),  # a run by its id
            ("dynamodb:PutItem", arn("dynamodb", f"table/{d.idempotency_table}")),
            ("states:StartExecution", d.state_machine_arn),
            ("states:DescribeExecution", execution), ("states:StopExecution", execution),
            *scale, *teardown,
            ("autoscaling:DeleteAutoScalingGroup", group), ("secretsmanager:GetSecretValue", secret)],
    }


def passed_roles(d: Deployment, stack_role_arn: str) -> dict[str, list[tuple[str, str]]]:
    """The roles a function hands to a service (iam:PassRole, with iam:PassedToService): {function: [(role, to)]}."""
    benchmark_role = f"arn:aws:iam::{d.account}:role/neuronlab-env-{PROBE}-benchmark"
    return {"DeployStacksFunction": [(stack_role_arn, "cloudformation.amazonaws.com")],
            "ApiFunction": [(stack_role_arn, "cloudformation.amazonaws.com")],
            "RunBenchmarkFunction": [(benchmark_role, "ecs-tasks.amazonaws.com")],
            "IdleSweepFunction": [(stack_role_arn, "cloudformation.amazonaws.com")]}
