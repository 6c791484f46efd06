"""Environment records and the requests that create or change them."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from orchestrator.models.images import ECR_IMAGE, ECR_IMAGE_RULE
from orchestrator.models.record import EnvironmentRecord, IdlePolicySettings
from orchestrator.models.states import EnvironmentState

# Becomes part of stack, cluster and secret names: lower case, digits, hyphens, 3-32 characters.
ENVIRONMENT_NAME_PATTERN = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"
EnvironmentName = Annotated[str, StringConstraints(pattern=ENVIRONMENT_NAME_PATTERN)]


def _ipv4_cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"not a CIDR block ({error})") from None
    if network.version != 4:
        raise ValueError("IPv4 only: the notebook's CloudFront distribution serves viewers over IPv4")
    return str(network)


Cidr = Annotated[str, AfterValidator(_ipv4_cidr)]
ANY_ADDRESS = "0.0.0.0/0"
# Wider than this, a block opens a sizeable share of the internet: it needs allowAnyAddress like 0.0.0.0/0
# (two /1 blocks are all of IPv4).
WIDEST_PREFIX = 8
# A model name from the Hugging Face hub, a path under /home, or random:NAME / noop; it ends up on a command line.
BenchmarkModel = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                                  pattern=r"^[A-Za-z0-9/][A-Za-z0-9._:/-]*$")]


def _thousandths(value: Any) -> Any:
    """Durations are kept to 0.001 of their unit: DynamoDB stores no number below 1e-130."""
    return round(value, 3) if isinstance(value, float) else value


# minutes or hours, rounded before the bounds are checked (so 1e-200 minutes is 0, and refused where > 0 is due)
Duration = Annotated[float, BeforeValidator(_thousandths)]


class StartRequest(BaseModel):
    """POST /environments body (also what `neuronlab start` sends)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: EnvironmentName
    instance_type: str = Field(default="inf2.xlarge", alias="instanceType")
    image: str | None = Field(default=None, max_length=512,
                              description="ECR image URI of this account; default from the API's config")
    # declared before allowCidrs: its validator reads this flag
    allow_any_address: bool = Field(default=False, alias="allowAnyAddress",
                                    description="required to put 0.0.0.0/0 in allowCidrs")
    allow_cidrs: list[Cidr] = Field(default_factory=list, alias="allowCidrs", max_length=20,
                                    description="who may reach the notebook; default: the caller's address /32")
    warm_pool: bool = Field(default=False, alias="warmPool",
                            description="keep a stopped instance in a warm pool while the environment is stopped")
    benchmark: bool = True
    benchmark_model: BenchmarkModel = Field(default="random:bert-base", alias="benchmarkModel")
    benchmark_seconds: int = Field(default=30, alias="benchmarkSeconds", ge=1, le=3600)
    benchmark_gate: bool = Field(default=False, alias="benchmarkGate",
                                 description="a failed benchmark fails the start (and releases the compute); "
                                             "otherwise the environment stays READY with the failure recorded")
    idle_minutes: Duration = Field(default=60.0, alias="idleMinutes", gt=0, le=7 * 24 * 60)
    grace_minutes: Duration = Field(default=10.0, alias="graceMinutes", ge=0, le=24 * 60)
    max_lifetime_hours: Duration | None = Field(default=None, alias="maxLifetimeHours", gt=0, le=24 * 30)
    warning_minutes: Duration = Field(default=10.0, alias="warningMinutes", ge=0, le=24 * 60)
    # Same token, same answer: a client retrying a start sends the token of its first attempt.
    client_token: str | None = Field(default=None, alias="clientToken", pattern=r"^[A-Za-z0-9-]{1,64}$")

    @field_validator("image")
    @classmethod
    def _an_ecr_image(cls, image: str | None) -> str | None:
        if image is not None and not ECR_IMAGE.match(image):
            raise ValueError(f"not {ECR_IMAGE_RULE}")
        return image

    @field_validator("allow_cidrs")
    @classmethod
    def _open_only_on_purpose(cls, cidrs: list[str], info: ValidationInfo) -> list[str]:
        wide = [c for c in cidrs if ipaddress.ip_network(c).prefixlen < WIDEST_PREFIX]
        if wide and not info.data.get("allow_any_address"):
            reach = "the whole internet" if ANY_ADDRESS in wide else \
                f"a large part of the internet (blocks wider than /{WIDEST_PREFIX})"
            raise ValueError(f"{', '.join(wide)} opens the notebook to {reach}; set allowAnyAddress to true "
                             "if that is really meant")
        return cidrs


class RestartRequest(BaseModel):
    """POST /environments/{name}/start body: the record keeps type, image and allow-list; these may change."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    benchmark: bool | None = None
    benchmark_model: BenchmarkModel | None = Field(default=None, alias="benchmarkModel")
    benchmark_seconds: int | None = Field(default=None, alias="benchmarkSeconds", ge=1, le=3600)
    benchmark_gate: bool | None = Field(default=None, alias="benchmarkGate")
    idle_minutes: Duration | None = Field(default=None, alias="idleMinutes", gt=0, le=7 * 24 * 60)
    grace_minutes: Duration | None = Field(default=None, alias="graceMinutes", ge=0, le=24 * 60)
    max_lifetime_hours: Duration | None = Field(default=None, alias="maxLifetimeHours", gt=0, le=24 * 30)
    warning_minutes: Duration | None = Field(default=None, alias="warningMinutes", ge=0, le=24 * 60)
    client_token: str | None = Field(default=None, alias="clientToken", pattern=r"^[A-Za-z0-9-]{1,64}$")

    def applied_to(self, record: EnvironmentRecord) -> StartRequest:
        """The start request of a known environment: its record, with this body's changes."""
        policy = record.idle_policy or IdlePolicySettings()
        base = {"name": record.name, "instanceType": record.instance_type, "image": record.image,
                "allowCidrs": record.allow_cidrs, "warmPool": record.warm_pool,
                # it was allowed when the environment was created
                "allowAnyAddress": any(ipaddress.ip_network(c).prefixlen < WIDEST_PREFIX for c in record.allow_cidrs),
                **{alias: getattr(policy, key) for key, alias in (("idle_minutes", "idleMinutes"),
                                                                  ("grace_minutes", "graceMinutes"),
                                                                  ("max_lifetime_hours", "maxLifetimeHours"),
                                                                  ("warning_minutes", "warningMinutes"))
                   if getattr(policy, key) is not None}}
        return StartRequest.model_validate({**base, **self.model_dump(by_alias=True, exclude_none=True)})


class BenchmarkRequest(BaseModel):
    """POST /environments/{name}/benchmarks body: run the benchmark again on a READY environment."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: BenchmarkModel | None = Field(default=None, description="default: the model of the last benchmark")
    seconds: int = Field(default=30, ge=1, le=3600, description="timed seconds per configuration")
    scenario: Literal["latency", "throughput", "all"] = "latency"


class StartCommand(BaseModel):
    """A start request with its caller: the unit the API makes idempotent."""

    request: StartRequest
    caller: str
    account: str | None = None  # the API's account (requestContext.accountId): images come from its ECR
    source_ip: str | None = None


def _absent(value: Any) -> bool:
    """An attribute the record does not have is left out of the answer, not null."""
    return value is None


class Environment(BaseModel):
    """An environment as the API shows it: the environments table item without what only the workflow reads.
    Every environment has exactly one, always in a defined state."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    name: str
    state: EnvironmentState
    owner: str | None = Field(default=None, exclude_if=_absent,
                              description="the IAM principal that created it (absent on records from before owners "
                                          "were recorded: admins only)")
    instance_type: str | None = Field(default=None, exclude_if=_absent, alias="instanceType")
    image: str | None = Field(default=None, exclude_if=_absent)
    image_digest: str | None = Field(default=None, exclude_if=_absent, alias="imageDigest")
    allow_cidrs: list[str] = Field(default_factory=list, alias="allowCidrs")
    url: str | None = Field(default=None, exclude_if=_absent)
    execution_arn: str | None = Field(default=None, exclude_if=_absent, alias="executionArn")
    failure_reason: str | None = Field(default=None, exclude_if=_absent, alias="failureReason")
    last_benchmark: dict[str, Any] | None = Field(default=None, exclude_if=_absent, alias="lastBenchmark")
    created_at: str | None = Field(default=None, exclude_if=_absent, alias="createdAt")
    updated_at: str | None = Field(default=None, exclude_if=_absent, alias="updatedAt")
    updated_by: str | None = Field(default=None, exclude_if=_absent, alias="updatedBy",
                                   description="who made the last change of state")


class EnvironmentList(BaseModel):
    environments: list[Environment]


class Token(BaseModel):
    token: str


class ErrorBody(BaseModel):
    """Every error the API answers, the gateway's own (auth, throttling) included."""

    message: str = Field(description="what is wrong, naming the field and the rule, or what to do next")
    details: list[str] | None = Field(default=None, description="one entry per invalid field: 'field: rule'")
