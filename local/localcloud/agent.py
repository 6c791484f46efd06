"""Local stand-in for the EC2 instance, the ECS agent and the service scheduler.

Each tick it reconciles moto's ECS state with local processes:
- an Auto Scaling group with instances -> a registered container instance sized like the instance type;
- a service with desired count 1 -> JupyterLab on a free port with base_url /NAME/ (the edge routes to it),
  token from the emulated Secrets Manager in JUPYTER_TOKEN, /home in a local folder; running count follows
  the process;
- the load balancer's health check: the notebook is registered in its target group once it answers the
  group's health-check path with a code the group's matcher accepts, and deregistered when it stops (moto
  reports every registered target healthy; see the canary elbv2_registered_target_is_healthy);
- a task started by RunTask -> its container command as a process (the benchmark harness on CPU);
  when it exits the task becomes STOPPED with its exit code and ECS's 'Task State Change' event is sent;
- a service whose stack was deleted -> its notebook stops (moto keeps the service ACTIVE; see the canary
  cfn_delete_keeps_ecs_service in tests/unit/test_moto_canaries.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.autoscaling.models import autoscaling_backends
from moto.cloudformation.models import cloudformation_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends
from moto.elbv2.models import elbv2_backends
from moto.events.models import events_backends
from moto.moto_api import state_manager
from neuronlab_core import instance_types

from localcloud import faults, iam
from localcloud.patches import CloudFrontFunction, free_port

TICK_SECONDS = 0.2
# What the image's ENV lines give every container; LocalCloud runs containers as processes of this machine, so
# these few come from its environment. Nothing else of it reaches a container, as nothing of the host's does.
IMAGE_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass
class Managed:
    process: subprocess.Popen
    log: Path
    port: int = 0
    started: float = field(default_factory=time.time)
    sidecars: list[subprocess.Popen] = field(default_factory=list)

    def stop(self) -> None:
        for process in [self.process, *self.sidecars]:
            _stop(process)


def _stop(process: subprocess.Popen, grace: float = 5.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


class Agent:
    def __init__(self, state_dir: Path, aws_endpoint: str, region: str = "us-east-1",
                 account: str = DEFAULT_ACCOUNT_ID) -> None:
        self.state_dir = state_dir
        self.aws_endpoint = aws_endpoint
        self.region, self.account = region, account
        self.notebooks: dict[str, Managed] = {}  # service ARN -> process
        self.tasks: dict[str, Managed] = {}  # task ARN -> process
        # environment -> its notebook's port and process (what the shared listener's rule targets)
        self.ports: dict[str, tuple[int, Managed]] = {}
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="localcloud-agent", daemon=True)
        self.errors: list[str] = []
        # Tasks change state only when this agent says so.
        state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**9})

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        self._thread.join(timeout=10)
        for managed in [*self.notebooks.values(), *self.tasks.values()]:
            managed.stop()

    def route(self, environment: str) -> int | None:
        """The port of the environment's running notebook, as the shared listener's rule would route;
        0 when its notebook is not running (no healthy target), None for an environment never started."""
        if environment not in self.ports:
            return None
        port, notebook = self.ports[environment]
        return port if notebook.process.poll() is None else 0

    def viewer_function(self, environment: str) -> str | None:
        """The code of the environment's CloudFront function (nested/notebook.yml, AllowList), while its stack lives."""
        name = f"neuronlab-{environment}-allow-list"
        for stack in list(cloudformation_backends[self.account][self.region].stacks.values()):
            if stack.status.startswith("DELETE"):
                continue
            for resource in list(stack.resource_map._parsed_resources.values()):
                if isinstance(resource, CloudFrontFunction) and resource.properties.get("Name") == name:
                    return str(resource.properties["FunctionCode"])
        return None

    def pids(self) -> list[int]:
        processes = [p for m in [*self.notebooks.values(), *self.tasks.values()] for p in [m.process, *m.sidecars]]
        return [p.pid for p in processes if p.poll() is None]

    def _run(self) -> None:
        while not self._stop_event.wait(TICK_SECONDS):
            try:
                self.tick()
            except Exception as error:  # keep reconciling; record for `local status`
                self.errors = [*self.errors[-9:], f"{type(error).__name__}: {error}"]

    # ------------------------------------------------------------------ reconcile
    @property
    def ecs(self) -> Any:
        return ecs_backends[self.account][self.region]

    def tick(self) -> None:
        self._container_instances()
        self._services()
        self._tasks()

    def _container_instances(self) -> None:
        asgs = autoscaling_backends[self.account][self.region].autoscaling_groups
        for cluster in list(self.ecs.clusters.values()):
            group = asgs.get(cluster.name)  # capacity.yml names the group like the cluster
            registered = self.ecs.container_instances.get(cluster.name, {})
            if group is None or group.desired_capacity == 0 or not group.instance_states:
                for arn in list(registered):
                    self.ecs.deregister_container_instance(cluster.name, arn, force=True)
                continue
            if registered:
                continue
            instance = group.instance_states[0].instance
            container_instance = self.ecs.register_container_instance(cluster.name, instance.id)
            if instance.instance_type not in instance_types.supported():
                continue  # keep moto's default size
            spec = instance_types.lookup(instance.instance_type)
            cpu, memory = spec.vcpus * 1024, int(spec.memory_mib * 0.9)
            for resources in (container_instance.registered_resources, container_instance.remaining_resources):
                for resource in resources:
                    if resource["name"] == "CPU":
                        resource["integerValue"] = cpu
                    elif resource["name"] == "MEMORY":
                        resource["integerValue"] = memory

    def _stack_of(self, physical: Any) -> Any:
        for stack in cloudformation_backends[self.account][self.region].stacks.values():
            if stack.status.startswith("DELETE"):
                continue
            if any(r is physical for r in stack.resource_map._parsed_resources.values()):
                return stack
        return None

    def _services(self) -> None:
        # moto keeps a stack's ECS services after the stack is deleted: a service no stack holds is gone
        stacks = {service.arn: self._stack_of(service) for service in self.ecs.services.values()}
        live = [service for service in self.ecs.services.values() if stacks[service.arn] is not None]
        for arn in [a for a in self.notebooks if stacks.get(a) is None]:
            self.notebooks.pop(arn).stop()
        environments = {service.cluster_name.removeprefix("neuronlab-") for service in live}
        for environment in [e for e in self.ports if e not in environments]:
            del self.ports[environment]  # its listener rule went with the stack
        for service in live:
            env = service.cluster_name.removeprefix("neuronlab-")
            managed = self.notebooks.get(service.arn)
            has_capacity = bool(self.ecs.container_instances.get(service.cluster_name))
            if service.desired_count >= 1 and has_capacity and (managed is None or managed.process.poll() is not None):
                if managed is not None and time.time() - managed.started < 2:
                    continue  # ECS waits before replacing a task that exited
                if managed is not None:
                    managed.stop()
                self.notebooks[service.arn] = self._start_notebook(service, stacks[service.arn], env)
            elif (service.desired_count == 0 or not has_capacity) and managed is not None:
                managed.stop()
                del self.notebooks[service.arn]
            managed = self.notebooks.get(service.arn)
            service.running_count = 1 if managed is not None and managed.process.poll() is None else 0
            service.pending_count = 0
            self._health_check(service, stacks[service.arn], managed, env)

    def _health_check(self, service: Any, stack: Any, notebook: Managed | None, env: str) -> None:
        """The target group's side: register the running notebook once it passes the group's health check."""
        group = stack.resource_map._parsed_resources.get("TargetGroup")
        if group is None:
            return
        elbv2 = elbv2_backends[self.account][self.region]
        alive = notebook is not None and notebook.process.poll() is None
        registered = list(group.targets.values())
        if registered and (not alive or notebook is None or registered[0]["Port"] != notebook.port):
            elbv2.deregister_targets(group.arn, registered)
            registered = []
        if alive and notebook is not None and not registered and _passes(group, notebook.port):
            instance = autoscaling_backends[self.account][self.region].autoscaling_groups[
                service.cluster_name].instance_states[0].instance
            elbv2.register_targets(group.arn, [{"Id": instance.id, "Port": notebook.port}])

    def _start_notebook(self, service: Any, stack: Any, env: str) -> Managed:
        port = free_port()
        secret_arn = stack.resource_map.resolved_parameters["TokenSecretArn"]
        token = boto3.client("secretsmanager", region_name=self.region).get_secret_value(
            SecretId=secret_arn)["SecretString"]
        home = self.state_dir / "homes" / env
        home.mkdir(parents=True, exist_ok=True)
        command = faults.notebook_command([
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={home}", "--allow-root",
            f"--ServerApp.base_url=/{env}/", "--ServerApp.trust_xheaders=True",
            "--MappingKernelManager.cull_idle_timeout=3600", "--MappingKernelManager.cull_interval=300",
        ])
        # the notebook's code runs with the notebook task role, as on AWS
        environment = self._container_env({"JUPYTER_TOKEN": token, "HOME": str(home),
                                           "JUPYTER_RUNTIME_DIR": str(self.state_dir / "runtime" / env)},
                                          self.ecs.describe_task_definition(service.task_definition), "notebook")
        notebook = self._spawn(command, environment, self.state_dir / "logs" / f"{env}-notebook.log")
        notebook.port = port
        sidecar = self._activity_sidecar(service, f"{port}/{env}", token)
        if sidecar:
            notebook.sidecars.append(sidecar)
        self.ports[env] = (port, notebook)
        return notebook

    def _activity_sidecar(self, service: Any, address: str, token: str) -> subprocess.Popen | None:
        """The task definition's `activity` container as a process: its environment, with the notebook
        reached on localhost (the container link) and a 1 s report cadence."""
        definition = self.ecs.describe_task_definition(service.task_definition)
        container = next((c for c in definition.container_definitions if c.get("name") == "activity"), None)
        if container is None:
            return None
        environment = self._container_env({"JUPYTER_URL": f"http://127.0.0.1:{address}/",
                                           "JUPYTER_TOKEN": token, "REPORT_SECONDS": "1"}, definition, "activity")
        log = self.state_dir / "logs" / f"{environment.get('NEURONLAB_ENVIRONMENT', 'env')}-activity.log"
        return self._spawn([sys.executable, "-m", "neuronlab_activity"], environment, log).process

    def _container_env(self, variables: dict[str, str], definition: Any, container: str) -> dict[str, str]:
        """A container's environment, and nothing more: the image's variables, the container definition's
        `environment`, then `variables` (overrides, and what LocalCloud resolves for the agent: Secrets, the
        local address of a link); the task role's temporary credentials, as the ECS agent's credential endpoint
        hands them out (no task role, no credentials). No region: agents before 1.104.0 set none, so the task
        definition must (docs/aws-facts.md)."""
        image = {name: os.environ[name] for name in IMAGE_VARIABLES if name in os.environ}
        declared = next((c.get("environment") or [] for c in definition.container_definitions
                         if c.get("name") == container), [])
        role = getattr(definition, "task_role_arn", None)
        credentials = iam.role_credentials(role, "ecs-task") if role else {}
        return {**image, **{e["name"]: e["value"] for e in declared}, **variables, **credentials,
                "AWS_ENDPOINT_URL": self.aws_endpoint}

    def _spawn(self, command: list[str], environment: dict[str, str], log: Path) -> Managed:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        return Managed(process=process, log=log)

    def _tasks(self) -> None:
        for cluster_name, tasks in list(self.ecs.tasks.items()):
            for arn, task in list(tasks.items()):
                managed = self.tasks.get(arn)
                if managed is not None and task.last_status != "STOPPED" and \
                        not self.ecs.container_instances.get(cluster_name):
                    task.stopped_reason = "Host EC2 instance terminated"  # its instance went: so did the task
                    managed.stop()
                    self._task_stopped(task, managed.process.poll() or -15, task.stopped_reason)
                    continue
                if managed is None and task.last_status == "RUNNING" and task.desired_status == "RUNNING":
                    self.tasks[arn] = self._start_task(task)
                elif managed is not None and task.last_status != "STOPPED":
                    if task.desired_status == "STOPPED":
                        managed.stop()
                    code = managed.process.poll()
                    if code is not None:
                        self._task_stopped(task, code)

    def _start_task(self, task: Any) -> Managed:
        overrides = (task.overrides.get("containerOverrides") or [{}])[0]
        command = overrides.get("command") or task.containers[0].__dict__.get("command") or []
        command = [sys.executable if part == "python" else part for part in command]
        definition = self.ecs.describe_task_definition(task.task_definition_arn)
        container = overrides.get("name") or definition.container_definitions[0]["name"]
        environment = self._container_env({e["name"]: e["value"] for e in overrides.get("environment", [])},
                                          definition, container)
        return self._spawn(command, environment, self.state_dir / "logs" / f"task-{task.id}.log")

    def _task_stopped(self, task: Any, code: int, reason: str = "Essential container in task exited") -> None:
        if task.last_status != "STOPPED" and task.container_instance_arn:
            # a task that ends by itself gives its CPU and memory back, as one stopped by StopTask does in moto
            # (else an instance runs out of room after a few benchmarks: "no task started")
            instance = self.ecs.container_instances[task.cluster_arn.split("/")[-1]].get(
                task.container_instance_arn.split("/")[-1])
            if instance is not None:
                self.ecs.update_container_instance_resources(instance, task.resource_requirements, removing=True)
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        for container in task.containers:
            container.exitCode = code
            container.last_status = "STOPPED"
        detail = {
            "taskArn": task.task_arn, "clusterArn": task.cluster_arn, "group": task.group,
            "startedBy": task.started_by, "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
            "stoppedReason": task.stopped_reason, "taskDefinitionArn": task.task_definition_arn,
            "containers": [{"name": "benchmark", "exitCode": code, "lastStatus": "STOPPED"}],
        }
        events_backends[self.account][self.region].put_events([{
            "Source": "aws.ecs", "DetailType": "ECS Task State Change", "Detail": json.dumps(detail),
            "Resources": [task.task_arn],
        }])


def _passes(group: Any, port: int) -> bool:
    """One health check as the load balancer makes it: GET the group's path, no token; the matcher's codes."""
    codes: set[int] = set()
    for part in str((group.matcher or {}).get("HttpCode", "200")).split(","):
        low, _, high = part.strip().partition("-")
        codes.update(range(int(low), int(high or low) + 1))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{group.health_check_path or '/'}", timeout=1) as answer:  # noqa: S310
            return answer.status in codes
    except urllib.error.HTTPError as error:
        return error.code in codes
    except (urllib.error.URLError, OSError):
        return False
