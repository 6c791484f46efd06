"""IAM on LocalCloud refuses what AWS refuses: Lambda handlers act as their function's role, containers as
their task role (local/localcloud/iam.py)."""

from __future__ import annotations

import json

import boto3
import psutil
import pytest
import requests
from botocore.exceptions import ClientError

from localcloud import apigateway, iam
from localcloud.cloud import REGION, LocalCloud
from neuronlab import signing
from tests.workflow.conftest import http, start, wait

pytestmark = pytest.mark.slow


def function_role(cloud: LocalCloud, logical_id: str) -> str:
    arn = boto3.client("lambda").get_function(FunctionName=cloud.function_name(logical_id))["Configuration"]["Role"]
    return arn.rsplit("/", 1)[1]


def test_a_handler_whose_role_lacks_a_permission_gets_access_denied(cloud: LocalCloud) -> None:
    # Given the sweep function's role without its inline policy
    from moto.iam.models import iam_backends

    client, role = boto3.client("iam"), function_role(cloud, "IdleSweepFunction")
    # moto's GetRolePolicy returns a Python repr of CloudFormation-made policies: keep the stored documents
    saved = dict(iam_backends["123456789012"]["global"].get_role(role).policies)
    for name in saved:
        client.delete_role_policy(RoleName=role, PolicyName=name)
    try:
        # When it runs
        response = boto3.client("lambda").invoke(FunctionName=cloud.function_name("IdleSweepFunction"), Payload=b"{}")
        # Then its first call is refused, as on AWS
        error = json.loads(response["Payload"].read())
        assert response.get("FunctionError") and error["errorType"] == "ClientError"
        assert "AccessDenied" in error["errorMessage"] and "dynamodb:Scan" in error["errorMessage"]
    finally:
        for name, document in saved.items():
            # SAM's statements carry no Version; moto's PutRolePolicy insists on one
            client.put_role_policy(RoleName=role, PolicyName=name,
                                   PolicyDocument=json.dumps({"Version": "2012-10-17", **document}))
    assert set(iam_backends["123456789012"]["global"].get_role(role).policies) == set(saved)
    # and with its policy back it works again
    response = boto3.client("lambda").invoke(FunctionName=cloud.function_name("IdleSweepFunction"), Payload=b"{}")
    assert "FunctionError" not in response


def test_a_notebook_task_writes_only_its_own_activity_report(cloud: LocalCloud) -> None:
    """Code in a notebook runs with the task role: it may report its own activity, and can reach nothing the
    orchestrator trusts (the record's URL, secret ARN, state, idle policy) nor another environment's report."""
    # Given two environments
    for name in ("tenant-a", "tenant-b"):
        execution, _, _ = wait(cloud, start(cloud, {"name": name, "benchmark": False})["executionArn"])
        assert execution["status"] == "SUCCEEDED"
    # When code in A's notebook uses A's task role (the credentials the ECS agent gives the task)
    role = boto3.client("iam").get_role(RoleName="neuronlab-env-tenant-a-notebook")["Role"]["Arn"]
    credentials = iam.role_credentials(role, "notebook")
    dynamodb = boto3.client("dynamodb", endpoint_url=cloud.aws_endpoint, region_name="us-east-1",
                            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
                            aws_session_token=credentials["AWS_SESSION_TOKEN"])
    activity, environments = cloud.outputs["ActivityTableName"], cloud.outputs["EnvironmentsTableName"]

    # Then it may write A's activity report, and nothing else
    dynamodb.put_item(TableName=activity, Item={"name": {"S": "tenant-a"}, "report": {"M": {}}})
    with pytest.raises(ClientError, match="AccessDenied"):
        dynamodb.put_item(TableName=activity, Item={"name": {"S": "tenant-b"}, "report": {"M": {}}})
    for key in ("tenant-a", "tenant-b"):  # not even its own record: that is where URLs and secrets live
        with pytest.raises(ClientError, match="AccessDenied"):
            dynamodb.update_item(TableName=environments, Key={"name": {"S": key}},
                                 UpdateExpression="SET tokenSecretArn = :v",
                                 ExpressionAttributeValues={":v": {"S": "arn:aws:secretsmanager:x"}})
    with pytest.raises(ClientError, match="AccessDenied"):
        dynamodb.get_item(TableName=environments, Key={"name": {"S": "tenant-b"}})


def test_containers_get_only_what_their_task_definition_and_the_agent_give_them(
        cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the host reaches a container, the region included: the task definition names it."""
    monkeypatch.setenv("NEURONLAB_HOST_ONLY", "must not leak")
    execution, _, _ = wait(cloud, start(cloud, {"name": "regional", "benchmark": False})["executionArn"])
    assert execution["status"] == "SUCCEEDED"
    notebook = cloud.agent.ports["regional"][1]
    for process in (notebook.process, *notebook.sidecars):
        environment = psutil.Process(process.pid).environ()
        assert "NEURONLAB_HOST_ONLY" not in environment
        assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == REGION
        assert "AWS_SESSION_TOKEN" in environment  # the task role's credentials, as the agent hands them out
    assert psutil.Process(notebook.sidecars[0].pid).environ()["NEURONLAB_ENVIRONMENT"] == "regional"


def test_cloudformation_acts_through_the_stack_role(cloud: LocalCloud) -> None:
    """Defect 2 of the strict-AWS issue, live: a stack role without ecs:TagResource on task definitions
    cannot create them; the start fails with the reason, as on AWS."""
    import copy

    from moto.iam.models import iam_backends

    # Given the environment stack role without ecs:TagResource
    name = boto3.client("cloudformation").describe_stack_resource(
        StackName="neuronlab", LogicalResourceId="EnvironmentStackRole")["StackResourceDetail"]["PhysicalResourceId"]
    role = iam_backends["123456789012"]["global"].get_role(name)
    saved = copy.deepcopy(role.policies)
    for document in role.policies.values():
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if a != "ecs:TagResource"] or ["none:None"]
    try:
        # When an environment starts
        execution, record, _ = wait(cloud, start(cloud, {"name": "untagged", "benchmark": False})["executionArn"])
    finally:
        role.policies.clear()
        role.policies.update(saved)

    # Then its stack fails on the first resource that needs the permission, and the record says why
    assert execution["status"] == "FAILED"
    assert record["state"] == "FAILED"
    assert "not authorized to perform: ecs:TagResource" in record["failureReason"]


def test_the_api_knows_who_calls_and_refuses_who_may_not(cloud: LocalCloud) -> None:
    """Two people and an admin, signed with keys of users in the emulated IAM, as API Gateway's AWS_IAM auth
    sees them; unsigned, forged and not-allowed requests never reach the function."""
    url = f"{cloud.api.url}/environments"
    assert requests.get(url, timeout=30).json() == {"message": "Missing Authentication Token"}
    forged = dict(cloud.person("alice"), secretAccessKey="not-the-key")
    response = signing.session(forged, REGION).get(url, timeout=30)
    assert response.status_code == 403 and "signature" in response.json()["message"]
    cloud.person("mallory", may_invoke=False)
    response = http(cloud, "mallory").get(url, timeout=30)
    assert response.status_code == 403 and "execute-api:Invoke" in response.json()["message"]

    alice, bob, admin = http(cloud, "alice"), http(cloud, "bob"), http(cloud, "admin-ops")
    created = alice.post(url, json={"name": "alices", "benchmark": False}, timeout=30)
    assert created.status_code == 202 and created.json()["owner"] == cloud.person("alice")["arn"]
    assert bob.get(f"{url}/alices", timeout=30).status_code == 403
    assert bob.post(f"{url}/alices/stop", timeout=30).status_code == 403
    taken = bob.post(url, json={"name": "alices"}, timeout=30)
    assert taken.status_code == 409 and cloud.person("alice")["arn"] in taken.json()["message"]
    assert "alices" not in [e["name"] for e in bob.get(url, timeout=30).json()["environments"]]
    assert "alices" in [e["name"] for e in admin.get(url, timeout=30).json()["environments"]]
    _, record, _ = wait(cloud, created.json()["executionArn"], person="alice")
    assert record["state"] == "READY"
    token = alice.get(f"{url}/alices/token", timeout=30).json()["token"]
    assert token == boto3.client("secretsmanager").get_secret_value(
        SecretId="neuronlab/alices/jupyter-token")["SecretString"]
    assert bob.get(f"{url}/alices/token", timeout=30).status_code == 403
    stopped = admin.post(f"{url}/alices/stop", timeout=60).json()
    assert stopped["state"] == "STOPPED" and stopped["updatedBy"] == cloud.person("admin-ops")["arn"]


def test_a_task_result_over_the_step_functions_payload_limit_is_refused(cloud: LocalCloud) -> None:
    """SendTaskSuccess takes at most 262144 bytes of output on AWS (the harness keeps its result under it)."""
    with pytest.raises(ClientError) as error:
        boto3.client("stepfunctions").send_task_success(taskToken="t" * 20, output=json.dumps({"x": "y" * 262144}))
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "262144" in error.value.response["Error"]["Message"]


def test_api_gateway_invokes_the_function_through_its_resource_policy_not_the_callers_credentials(
        cloud: LocalCloud) -> None:
    """A caller allowed execute-api:Invoke alone reaches the function (template.yaml's InvokeRole: NONE); with
    SAM's default caller credentials, API Gateway would need the caller to hold lambda:InvokeFunction and
    answers 500 otherwise, as it does on AWS."""
    url = f"{cloud.api.url}/environments"
    alice = http(cloud, "alice")
    assert alice.get(url, timeout=30).status_code == 200
    assert alice.get(f"{cloud.api.url}/no/such/route", timeout=30).json() == {"message": "Missing Authentication Token"}

    # Given the integrations SAM emits without InvokeRole: the caller's credentials
    saved = cloud.api.integrations
    cloud.api.integrations = [apigateway.Integration(i.method, i.resource, apigateway.CALLER_CREDENTIALS)
                              for i in saved]
    try:
        # Then an ordinary user gets API Gateway's 500 ...
        response = alice.get(url, timeout=30)
        assert response.status_code == 500 and response.json() == {"message": "Internal server error"}
        # ... and only one who may invoke the function itself (and could forge its request context) gets through
        cloud.person("carol-invoker")
        boto3.client("iam").put_user_policy(UserName="carol-invoker", PolicyName="invoke", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                                     "Resource": cloud.api.function.function_arn}]}))
        assert http(cloud, "carol-invoker").get(url, timeout=30).status_code == 200
    finally:
        cloud.api.integrations = saved

    # Given a function whose resource policy does not name the API
    saved_permissions, cloud.api.permissions = cloud.api.permissions, []
    try:
        assert alice.get(url, timeout=30).status_code == 500
    finally:
        cloud.api.permissions = saved_permissions
