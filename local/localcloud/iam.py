"""IAM as AWS enforces it, for the calls NeuronLab's code makes on LocalCloud.

moto checks, when its IAM enforcement is on, only the action, and for most services against the resource
"*", so a statement scoped to an ARN never matches; it evaluates conditions only in trust policies (canary
`iam_checks_only_star` in tests/unit/moto_probe.py). LocalCloud decides itself instead, for every request:

- who calls: a Lambda handler runs as its function's role (`acting_as`, set by the in-process Lambda
  runtime, and carried into threads the handler starts); a container process (the notebook's sidecar, the
  benchmark) signs with credentials of its task role, assumed through STS (`role_credentials`). Anything
  else (you, the tests, LocalCloud itself) is the account's administrator, as your own credentials would be.
- on what: the ARN each operation acts on, built from its parameters (`RESOURCES`); an operation missing
  from the table is checked against "*", which only an unscoped statement allows: a gap refuses, it never
  grants.
- with which conditions: the context keys NeuronLab's policies use (dynamodb:LeadingKeys,
  iam:PassedToService).

The policy evaluation: an explicit Deny wins, else some Allow must match action, resource and conditions.
An action the Service Authorization Reference lists with no resource type (cloudfront:CreateFunction,
logs:DescribeResourcePolicies, ...) is evaluated against "*", so only a statement whose Resource is "*"
grants it, as AWS does (aws-cdk issue #33249); cfn-lint ships the reference offline (Policies.json).
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.iam.exceptions import NotFoundException

ACTING_AS: contextvars.ContextVar[str | None] = contextvars.ContextVar("localcloud_acting_as", default=None)
Params = dict[str, Any]
# Every (role ARN, action, resource) a role was checked for since start: what `neuronlab doctor` must simulate.
CALLS: set[tuple[str, str, str]] = set()


@contextmanager
def acting_as(role_arn: str | None) -> Iterator[None]:
    """Every AWS call made in this block (and in threads started from it through an executor) uses the role."""
    token = ACTING_AS.set(role_arn)
    try:
        yield
    finally:
        ACTING_AS.reset(token)


# ------------------------------------------------------------------ what each operation acts on
def _arn(service: str, region: str, account: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def _table(p: Params, r: str, a: str) -> str:
    table = _arn("dynamodb", r, a, f"table/{p.get('TableName', '')}")
    return f"{table}/index/{p['IndexName']}" if p.get("IndexName") else table


def _stack(p: Params, r: str, a: str) -> str:
    from moto.cloudformation.models import cloudformation_backends

    name = str(p.get("StackName", ""))
    if name.startswith("arn:"):
        return name
    stacks = cloudformation_backends[a][r].stacks.values()
    stack_id = next((s.stack_id for s in stacks if s.name == name and not s.status.startswith("DELETE_COMPLETE")),
                    None)
    return stack_id or _arn("cloudformation", r, a, f"stack/{name}/*")


def _secret(p: Params, r: str, a: str) -> str:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = str(p.get("SecretId") or p.get("Name") or "")
    if secret_id.startswith("arn:"):
        return secret_id
    secret = secretsmanager_backends[a][r].secrets.get(secret_id)
    return secret.arn if secret is not None else _arn("secretsmanager", r, a, f"secret:{secret_id}-??????")


def _group(p: Params, r: str, a: str) -> str:
    name = p.get("AutoScalingGroupName", "")
    return _arn("autoscaling", r, a, f"autoScalingGroup:0f1e2d3c:autoScalingGroupName/{name}")  # any group id


def _service(p: Params, r: str, a: str) -> str:
    cluster = str(p.get("cluster", "default")).split("/")[-1]
    services = p.get("services") or [p.get("service", "")]
    return _arn("ecs", r, a, f"service/{cluster}/{str(services[0]).split('/')[-1]}")


def _task_definition(p: Params, r: str, a: str) -> str:
    definition = str(p.get("taskDefinition", ""))
    if definition.startswith("arn:"):
        return definition
    return _arn("ecs", r, a, f"task-definition/{definition}" + ("" if ":" in definition else ":1"))


def _in_cluster(kind: str, name: str, p: Params, r: str, a: str) -> str:
    """A task's or container instance's ARN: as given, or built from the cluster and the id."""
    cluster = str(p.get("cluster", "")).split("/")[-1]
    return name if name.startswith("arn:") else _arn("ecs", r, a, f"{kind}/{cluster}/{name}")


def _execution(p: Params, r: str, a: str) -> str:
    return str(p.get("executionArn", ""))


def _state_machine_of_token(p: Params, r: str, a: str) -> str:
    """Task-token calls are evaluated against the state machine that issued the token (docs/aws-facts.md)."""
    from moto.stepfunctions.responses import get_backend

    for machine in get_backend(a, r).state_machines:
        for execution in machine.executions:
            worker = getattr(execution, "exec_worker", None)
            if worker is not None and worker.env.callback_pool_manager.get(p.get("taskToken")) is not None:
                return str(machine.arn)
    return "*"


RESOURCES: dict[tuple[str, str], Callable[[Params, str, str], str]] = {
    **{("dynamodb", op): _table for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                                           "DescribeTable", "BatchGetItem", "BatchWriteItem")},
    **{("cloudformation", op): _stack for op in ("CreateStack", "UpdateStack", "DeleteStack", "DescribeStacks",
                                                 "DescribeStackEvents", "DescribeStackResources")},
    **{("secretsmanager", op): _secret for op in ("CreateSecret", "DescribeSecret", "GetSecretValue",
                                                  "DeleteSecret", "TagResource", "PutSecretValue")},
    **{("autoscaling", op): _group for op in ("UpdateAutoScalingGroup", "SetInstanceProtection",
                                              "DeleteAutoScalingGroup")},
    ("ecs", "DescribeServices"): _service,
    ("ecs", "UpdateService"): _service,
    ("ecs", "RunTask"): _task_definition,
    ("ecs", "StopTask"): lambda p, r, a: _in_cluster("task", str(p.get("task", "")), p, r, a),
    ("ecs", "DescribeTasks"): lambda p, r, a: _in_cluster("task", str((p.get("tasks") or [""])[0]), p, r, a),
    ("ecs", "DescribeContainerInstances"): lambda p, r, a: _in_cluster(
        "container-instance", str((p.get("containerInstances") or [""])[0]), p, r, a),
    ("states", "StartExecution"): lambda p, r, a: str(p.get("stateMachineArn", "")),
    **{("states", op): _execution for op in ("DescribeExecution", "StopExecution")},
    **{("states", op): _state_machine_of_token for op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")},
    ("ecr", "DescribeImages"): lambda p, r, a: _arn("ecr", r, str(p.get("registryId") or a),
                                                    f"repository/{p.get('repositoryName', '')}"),
    ("events", "PutEvents"): lambda p, r, a: _arn(
        "events", r, a, f"event-bus/{(p.get('Entries') or [{}])[0].get('EventBusName') or 'default'}"),
}


# ------------------------------------------------------------------ the Service Authorization Reference
# Actions the reference lists without a resource type that AWS is known to evaluate against a resource anyway,
# each with its evidence: the one named exception to the "*" rule.
EVALUATED_ON_A_RESOURCE = {
    # AWS CDK's grantTaskResponse grants these on the state machine, tested by its author for Lambda callbacks
    # (aws/aws-cdk PR 8486), and AccessDenied messages name the state machine (NOAA-OWP/hydrovis issue 837):
    # docs/aws-facts.md, "Task tokens"
    "states:sendtasksuccess": "the state machine that issued the token",
    "states:sendtaskfailure": "the state machine that issued the token",
    "states:sendtaskheartbeat": "the state machine that issued the token",
}


@cache
def reference() -> dict[str, Any]:
    """cfn-lint's copy of the Service Authorization Reference: service -> Actions -> action -> Resources."""
    return dict(json.loads((Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json")
                           .read_text()))


def resource_types(action: str) -> list[str] | None:
    """The resource types the reference lists for an action (lower case): [] for none, None for an unknown action."""
    service, _, name = action.lower().partition(":")
    entry = reference().get(service, {}).get("Actions", {}).get(name)
    return None if entry is None else list(entry.get("Resources") or [])


def evaluated_resource(action: str, resource: str) -> str:
    """What AWS evaluates a statement's Resource against: "*" for an action without a resource type."""
    if resource_types(action) == [] and action.lower() not in EVALUATED_ON_A_RESOURCE:
        return "*"
    return resource


# ------------------------------------------------------------------ policy evaluation
def _values(element: Any) -> list[str]:
    return [str(v) for v in (element if isinstance(element, list) else [element])]


def _wildcard(pattern: str, value: str, case: bool) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def wildcard_match(pattern: str, value: str) -> bool:
    """An ARN pattern with * and ? as IAM and resource policies read it (case-sensitive)."""
    return _wildcard(pattern, value, True)


def _matches(statement: dict[str, Any], key: str, value: str, case: bool) -> bool:
    if key in statement:
        return any(_wildcard(p, value, case) for p in _values(statement[key]))
    negated = f"Not{key}"
    return negated in statement and not any(_wildcard(p, value, case) for p in _values(statement[negated]))


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda expected, actual: expected == actual,
    "StringLike": lambda expected, actual: _wildcard(expected, actual, True),
    "ArnEquals": lambda expected, actual: expected == actual,
    "ArnLike": lambda expected, actual: _wildcard(expected, actual, True),
    "Bool": lambda expected, actual: expected.lower() == actual.lower(),
}


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, list[str]]) -> bool:
    qualifier, _, name = operator.rpartition(":")
    negate = name.startswith(("StringNot", "ArnNot"))
    base = name.replace("Not", "", 1) if negate else name
    if base not in _OPERATORS:
        return False  # an operator this emulation does not know never grants
    compare, wanted = _OPERATORS[base], _values(expected)
    actual = context.get(key)
    if actual is None:
        return qualifier == "ForAllValues"  # vacuously true; a missing key fails any other condition
    hit = [any(compare(w, value) for w in wanted) for value in actual]
    result = all(hit) if qualifier == "ForAllValues" else any(hit)  # else: ForAnyValue, single-valued keys
    return not result if negate else result


def statement_applies(statement: dict[str, Any], action: str, resource: str,
                      context: dict[str, list[str]]) -> bool:
    if not _matches(statement, "Action", action, case=False) or not _matches(statement, "Resource", resource, True):
        return False
    return all(_condition_holds(op, key, expected, context)
               for op, pairs in (statement.get("Condition") or {}).items() for key, expected in pairs.items())


def decide(policies: list[dict[str, Any]], action: str, resource: str, context: dict[str, list[str]]) -> bool:
    """Whether identity policies allow `action` on `resource`: an explicit Deny wins, else an Allow is needed."""
    resource = evaluated_resource(action, resource)
    statements = [s for p in policies for s in (p["Statement"] if isinstance(p["Statement"], list)
                                                 else [p["Statement"]])]
    if any(s["Effect"] == "Deny" and statement_applies(s, action, resource, context) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and statement_applies(s, action, resource, context) for s in statements)


def _documents(principal: Any) -> list[dict[str, Any]]:
    """The inline and attached managed policies of a moto role or user."""
    documents = [json.loads(d) if isinstance(d, str) else d for d in principal.policies.values()]
    for managed in principal.managed_policies.values():
        version = next(v for v in managed.versions if v.is_default)
        documents.append(json.loads(version.document) if isinstance(version.document, str) else version.document)
    return documents


def role_policies(account: str, role_arn: str) -> list[dict[str, Any]]:
    from moto.iam.models import iam_backends

    return _documents(iam_backends[account]["global"].get_role_by_arn(role_arn))


def user_policies(account: str, user_name: str) -> list[dict[str, Any]]:
    from moto.iam.models import iam_backends

    return _documents(iam_backends[account]["global"].get_user(user_name))


# ------------------------------------------------------------------ the request side
def _params(response: Any) -> Params:
    """The request's parameters: parsed by moto (JSON protocols), or from the query string / form body."""
    params = getattr(response, "params", None)
    if isinstance(params, dict) and params:
        return params
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, str | bytes) and body.strip()[:1] in ("{", b"{"):
        return json.loads(body)
    try:
        return response._get_params()
    except Exception:  # a protocol this parser does not read: no parameters, so only "*" statements match
        return {}


def _passed_roles(service: str, operation: str, params: Params, region: str, account: str) -> list[tuple[str, str]]:
    """The roles a call hands to a service (iam:PassRole is checked on each, as AWS does): (role ARN, service)."""
    if service == "cloudformation" and operation in ("CreateStack", "UpdateStack", "DeleteStack") \
            and params.get("RoleARN"):
        return [(str(params["RoleARN"]), "cloudformation.amazonaws.com")]
    if service == "ecs" and operation == "RunTask":
        from moto.ecs.models import ecs_backends

        definition = ecs_backends[account][region].describe_task_definition(str(params.get("taskDefinition", "")))
        roles = [getattr(definition, "task_role_arn", None), getattr(definition, "execution_role_arn", None)]
        return [(str(role), "ecs-tasks.amazonaws.com") for role in roles if role]
    return []


def _context(service: str, operation: str, params: Params) -> dict[str, list[str]]:
    context: dict[str, list[str]] = {}
    if service == "dynamodb":
        key = params.get("Key") or params.get("Item") or {}
        hashes = [str(next(iter(v.values()))) for k, v in key.items() if k == "name" and isinstance(v, dict)]
        if hashes:
            context["dynamodb:LeadingKeys"] = hashes
    return context


# TransactWriteItems has no action of its own: each part is authorized as the single-item call it stands for
# (DynamoDB developer guide, "Using IAM with DynamoDB transactions":
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html)
_TRANSACTION_PARTS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                      "ConditionCheck": "ConditionCheckItem"}


def _transaction(params: Params, response: Any, account: str) -> list[tuple[str, str, dict[str, list[str]]]]:
    checks = []
    for part in params.get("TransactItems") or []:
        for kind, request in part.items():
            checks.append((f"dynamodb:{_TRANSACTION_PARTS.get(kind, kind)}", _table(request, response.region, account),
                           _context("dynamodb", kind, request)))
    return checks


def dependent_actions(service: str, operation: str, params: Params) -> list[str]:
    """Further actions an operation is authorized for on the same resource, as the Service Authorization
    Reference's "API operations" table maps them (not in cfn-lint's offline copy, so listed here by hand):
    CreateStack with tags is also cloudformation:TagResource
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_cloudformation.html)."""
    if (service, operation) == ("cloudformation", "CreateStack") and params.get("Tags"):
        return ["cloudformation:TagResource"]
    return []


def _caller(response: Any, account: str) -> str | None:
    """The role a request acts as: the in-process Lambda's, or the one whose STS credentials signed it."""
    role = ACTING_AS.get()
    if role:
        return role
    match = re.search(r"Credential=([A-Z0-9]+)/", response.headers.get("Authorization", ""))
    if not match:
        return None
    from moto.sts.models import sts_backends

    assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(match.group(1))
    return assumed.role_arn if assumed is not None else None


def authorize(response: Any, resource: str = "*", action: str | None = None) -> None:
    """moto's per-request authorization hook, replaced: see the module docstring."""
    account = response.current_account
    role = _caller(response, account)
    if role is None:
        return
    service = {"elbv2": "elasticloadbalancing", "stepfunctions": "states"}.get(response.service_name,
                                                                               response.service_name)
    operation = response._get_action()
    params = _params(response) if action is None else {}
    finder = RESOURCES.get((service, operation)) if action is None else None
    target = finder(params, response.region, account) if finder else resource
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        checks = _transaction(params, response, account)
    else:
        checks = [(action or f"{service}:{operation}", target, _context(service, operation, params)),
                  *[(dependent, target, {}) for dependent in dependent_actions(service, operation, params)]]
    try:
        policies = role_policies(account, role)
    except NotFoundException:  # credentials of a role deleted since (a task outliving its stack): nothing allowed
        policies = []
    for checked_action, checked_target, context in checks:
        CALLS.add((role, checked_action, checked_target))
        if not decide(policies, checked_action, checked_target, context):
            raise _denied(response, role, checked_action, checked_target)
    for passed, to_service in _passed_roles(service, operation, params, response.region, account):
        if not decide(policies, "iam:PassRole", passed, {"iam:PassedToService": [to_service]}):
            raise _denied(response, role, "iam:PassRole", passed)


def _denied(response: Any, role: str, action: str, resource: str) -> Exception:
    """AccessDenied as the service's protocol spells it: AccessDeniedException in JSON, AccessDenied in XML."""
    if "json" in response.headers.get("Content-Type", ""):
        return JsonRESTError("AccessDeniedException",
                             f"User: {role} is not authorized to perform: {action} on resource: {resource}")
    return AccessDeniedError(user_arn=role, action=f"{action} on resource: {resource}")


# S3 authorizes by method: HeadObject needs s3:GetObject, a GET on the bucket is s3:ListBucket.
_S3_ACTIONS = {("GET", True): "s3:GetObject", ("HEAD", True): "s3:GetObject", ("PUT", True): "s3:PutObject",
               ("DELETE", True): "s3:DeleteObject", ("GET", False): "s3:ListBucket", ("HEAD", False): "s3:ListBucket"}


def _authorize_s3(response: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
    path = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
    action = _S3_ACTIONS.get((response.method, bool(key_name)), f"s3:{response.method}")
    authorize(response, f"arn:aws:s3:::{path}", action)


def role_credentials(role_arn: str, session: str) -> dict[str, str]:
    """Temporary credentials of a role, as the ECS agent hands them to a task (its credential endpoint)."""
    import boto3

    credentials = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
    return {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"]}


_submit = ThreadPoolExecutor.submit


def _submit_in_context(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Threads a handler starts run as its role, as every thread of a Lambda sandbox has its credentials."""
    return _submit(self, contextvars.copy_context().run, fn, *args, **kwargs)


def simulate_principal_policy(response: Any) -> Any:
    """iam:SimulatePrincipalPolicy (moto has none), answered by this module's evaluation: `neuronlab doctor`
    asks LocalCloud the same question it asks AWS."""
    from moto.core.responses import ActionResult

    params = response.params
    context = {e["ContextKeyName"]: list(e.get("ContextKeyValues") or []) for e in params.get("ContextEntries") or []}
    policies = role_policies(response.current_account, params["PolicySourceArn"])
    results = [{"EvalActionName": action, "EvalResourceName": resource,
                "EvalDecision": "allowed" if decide(policies, action, resource, context) else "implicitDeny"}
               for action in params.get("ActionNames") or [] for resource in params.get("ResourceArns") or ["*"]]
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def apply() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.responses import IamResponse

    IamResponse.simulate_principal_policy = simulate_principal_policy  # type: ignore[attr-defined]

    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize  # type: ignore[method-assign,assignment]
    ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = _authorize_s3  # type: ignore[method-assign,assignment]
    ThreadPoolExecutor.submit = _submit_in_context  # type: ignore[method-assign,assignment]
