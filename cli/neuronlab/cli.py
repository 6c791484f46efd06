"""neuronlab: start, inspect and benchmark NeuronLab environments (AWS, or LocalCloud with --local)."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import requests
import typer
from neuronlab_core import instance_types
from rich import box
from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table

from neuronlab import local, plots
from neuronlab.client import ApiError, Target, resolve
from neuronlab.workflow import wait_for_execution

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
local_app = typer.Typer(help="LocalCloud: the whole app on this machine, no AWS account.", no_args_is_help=True)
app.add_typer(local_app, name="local")
history_app = typer.Typer(help="Benchmark history: list it, plot it, list its regressions, import a result.")
app.add_typer(history_app, name="history")
# no emoji codes: ARNs contain ":secret:"
out = Console(soft_wrap=True, emoji=False)
err = Console(stderr=True, emoji=False)

LocalOpt = Annotated[bool, typer.Option("--local", help="Target LocalCloud instead of the deployed stack.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


# C0 and C1 control characters: terminal escape sequences (cursor moves, OSC 8 hyperlinks, screen clears)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(value: Any) -> Any:
    """What the server sent, without control characters in any string: names, models, reasons and evidence
    come from other users and from containers, and must not drive this terminal."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


def escape(text: str) -> str:
    """Text as rich prints it verbatim: markup escaped, control characters dropped."""
    return escape_markup(printable(text))


def _print_json(data: Any) -> None:
    print(json.dumps(data, default=str))


def _fail(message: str, code: int = 1) -> NoReturn:
    """Print the message verbatim (server text carries [a-z]-like rules that rich would read as markup)."""
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _target(use_local: bool) -> Target:
    try:
        return resolve(use_local)
    except Exception as error:  # no stack, no credentials, LocalCloud down: say which
        _fail(str(error))


def _benchmark_table(item: dict[str, Any]) -> Table:
    on_cpu = item["backend"] == "cpu"
    table = Table(title=f"Benchmark {escape(item['model'])} on {item['instance_type']} ({item['backend']})",
                  caption="measured on this machine's CPU, not on the instance's accelerator: not priced"
                  if on_cpu else None)
    table.add_column("metric")
    table.add_column("value", justify="right")
    latency = item["latency_ms"]
    rows = [("inferences", f"{item['inferences']}"), ("duration", f"{item['duration_s']:.2f} s"),
            ("throughput", f"{item['throughput']:.2f} /s"),
            *[(f"latency {k}", f"{v:.2f} ms") for k, v in latency.items()],
            ("max |logit diff| vs CPU",
             f"{item['correctness']['max_abs_diff']:.3g}" if item.get("correctness") else "-"),
            ("verdict", str(item.get("verdict", "-"))),
            ("cost / million", f"${item['cost_per_million_usd']:.2f}" if item.get("cost_per_million_usd")
             else "- (CPU run)" if on_cpu else "-")]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _environment_view(record: dict[str, Any], use_local: bool = False) -> None:
    out.print(f"[bold]{record['name']}[/bold]  {record['state']}  {record['instanceType']}"
              + (f"  owner {escape(record['owner'])}" if record.get("owner") else ""))
    if record.get("url"):
        out.print(f"  URL:   {record['url']}")
    if record.get("tokenSecretArn"):
        out.print(f"  token: neuronlab token {record['name']}{' --local' if use_local else ''}")
    if record.get("failureReason"):
        out.print(f"  [red]failed:[/red] {escape(record['failureReason'])}")
    if record.get("lastBenchmarkFailure") and record["state"] == "READY":
        out.print(f"  [yellow]benchmark failed:[/yellow] {escape(record['lastBenchmarkFailure']['reason'])}")
    if record.get("retainedFileSystemId") and record["state"] in ("DELETING", "DELETED"):
        out.print(f"  /home kept: EFS {record['retainedFileSystemId']} (billed per GB; "
                  f"aws efs delete-file-system --file-system-id {record['retainedFileSystemId']} removes it)")
    if record.get("stopReason") and record["state"] in ("STOPPED", "UNHEALTHY"):
        out.print(f"  stopped {record.get('stoppedAt', '')}: {escape(record['stopReason'])}")
    if record.get("idlePolicy"):
        policy = record["idlePolicy"]
        out.print(f"  idle limit: {policy['idle_minutes']:g} min (grace {policy['grace_minutes']:g} min)"
                  + (f", lifetime {policy['max_lifetime_hours']:g} h" if policy.get("max_lifetime_hours") else ""))
    if record.get("lastSweep") and record["state"] == "READY":
        out.print(f"  last sweep: {record['lastSweep']['action']} ({escape(record['lastSweep']['reason'])})")
    if record.get("lastBenchmark"):
        bench = record["lastBenchmark"]
        out.print(f"  last benchmark: {bench['model']} {bench['backend']} {bench['throughput']:.1f}/s "
                  f"p50 {bench['p50_ms']:.1f} ms ({bench['verdict']})")


def _find(target: Target, name: str) -> dict[str, Any] | None:
    try:
        return target.request("GET", f"/environments/{name}")
    except ApiError as error:
        if error.status == 404:
            return None
        _fail(str(error), 2)


def _api(target: Target, method: str, path: str, **kwargs: Any) -> Any:
    for attempt in (1, 2):  # one retry; a start carries a clientToken, so its retry is safe
        try:
            return printable(target.request(method, path, **kwargs))
        except ApiError as error:
            _fail(str(error), 2)
        except (requests.ConnectionError, requests.Timeout) as error:
            if attempt == 2:
                _fail(f"cannot reach {target.api_url}: {error}")
            time.sleep(1)


# ------------------------------------------------------------------ environments
@app.command()
def start(
    name: str,
    instance_type: Annotated[str | None, typer.Option(help="Inf2/Trn1 instance type [new: inf2.xlarge]")] = None,
    image: Annotated[str | None, typer.Option(help="ECR image URI with tag (default: the deployment's)")] = None,
    allow_cidr: Annotated[list[str] | None, typer.Option(help="CIDR allowed to reach the notebook (repeatable; "
                                                         "default: your address /32)")] = None,
    no_benchmark: Annotated[bool, typer.Option("--no-benchmark", help="Skip the benchmark task")] = False,
    benchmark_model: Annotated[str | None, typer.Option(help="Model the benchmark runs [random:bert-base]")] = None,
    benchmark_seconds: Annotated[int | None, typer.Option(help="Timed seconds of the benchmark [30]")] = None,
    benchmark_gate: Annotated[bool, typer.Option("--benchmark-gate", help="A failed benchmark fails the start "
                                                 "(default: the notebook stays READY, the failure recorded)")] = False,
    idle_minutes: Annotated[float | None, typer.Option(help="Scale to zero after this long idle [60]")] = None,
    grace_minutes: Annotated[float | None, typer.Option(help="Never stop sooner after ready [10]")] = None,
    warning_minutes: Annotated[float | None, typer.Option(help="Warn this long before an idle stop [10]")] = None,
    max_lifetime_hours: Annotated[float | None, typer.Option(help="Stop after this long, busy or not")] = None,
    allow_any_address: Annotated[bool, typer.Option("--allow-any-address",
                                                    help="Allow --allow-cidr 0.0.0.0/0 (the whole internet)")] = False,
    warm_pool: Annotated[bool, typer.Option("--warm-pool", help="Keep a stopped instance in a warm pool while "
                                                                "stopped (faster start, EBS billed)")] = False,
    wait: Annotated[bool, typer.Option(help="Wait until the workflow ends")] = True,
    use_local: LocalOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Start an environment: a new one gets its stacks; a stopped one scales back up with its settings."""
    target = _target(use_local)
    options = {"benchmark": not no_benchmark, "benchmarkModel": benchmark_model,
               "benchmarkSeconds": benchmark_seconds, "benchmarkGate": benchmark_gate or None,
               "idleMinutes": idle_minutes, "graceMinutes": grace_minutes,
               "warningMinutes": warning_minutes, "maxLifetimeHours": max_lifetime_hours,
               "clientToken": uuid.uuid4().hex}
    body: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    existing = _find(target, name)
    if existing is None:
        body.update({"name": name, "instanceType": instance_type or "inf2.xlarge", "warmPool": warm_pool,
                     "allowAnyAddress": allow_any_address})
        body.update({k: v for k, v in (("image", image), ("allowCidrs", allow_cidr)) if v})
        record = _api(target, "POST", "/environments", body=body)
    else:
        fixed = {"--instance-type": (instance_type, existing["instanceType"]), "--image": (image, existing["image"]),
                 "--allow-cidr": (allow_cidr, existing.get("allowCidrs")),
                 "--warm-pool": (warm_pool, bool(existing.get("warmPool")))}
        changed = [flag for flag, (given, recorded) in fixed.items() if given and given != recorded]
        if changed:
            _fail(f"{name} exists with other {', '.join(changed)}; it restarts with its recorded settings")
        record = _api(target, "POST", f"/environments/{name}/start", body=body)
    if wait:
        try:
            execution = wait_for_execution(target, record["executionArn"], quiet=as_json)
        except TimeoutError as error:
            _fail(str(error))
        record = _api(target, "GET", f"/environments/{name}")
        record["execution"] = {"status": execution["status"], "arn": execution["executionArn"]}
    if as_json:
        _print_json(record)
    else:
        _environment_view(record, use_local)
    if record["state"] == "FAILED":
        raise typer.Exit(1)


@app.command()
def status(name: str, use_local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """State, URL, how to get the token, and the last benchmark."""
    record = _api(_target(use_local), "GET", f"/environments/{name}")
    _print_json(record) if as_json else _environment_view(record, use_local)


@app.command()
def stop(name: str, use_local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Scale to zero now; /home and the token stay for the next start."""
    record = _api(_target(use_local), "POST", f"/environments/{name}/stop")
    _print_json(record) if as_json else _environment_view(record, use_local)


@app.command()
def delete(name: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
           use_local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Tear the environment's stacks down. Its /home file system is kept (its id is shown)."""
    if not yes and not typer.confirm(f"Delete environment {name} and its stacks?"):
        raise typer.Exit(1)
    record = _api(_target(use_local), "DELETE", f"/environments/{name}")
    _print_json(record) if as_json else _environment_view(record, use_local)


@app.command()
def bench(
    name: str,
    model: Annotated[str | None, typer.Option(help="Model to run [the last benchmark's]")] = None,
    seconds: Annotated[int, typer.Option(min=1, max=3600, help="Timed seconds per configuration")] = 30,
    scenario: Annotated[str, typer.Option(help="latency, throughput (a sweep) or all")] = "latency",
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and show it")] = False,
    use_local: LocalOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Benchmark a READY environment again (one run at a time); the result joins the history."""
    if scenario not in ("latency", "throughput", "all"):
        _fail(f"--scenario: {scenario!r} is not one of latency, throughput, all")
    target = _target(use_local)
    body = {"seconds": seconds, "scenario": scenario, **({"model": model} if model else {})}
    record = _api(target, "POST", f"/environments/{name}/benchmarks", body=body)
    run = record["benchmarkRun"]
    if not wait:
        _print_json(run) if as_json else out.print(
            f"benchmark of {escape(run['model'])} started on {name} ({run['executionArn']}); the environment stays "
            f"READY. Result: neuronlab history --environment {name}")
        return
    try:
        execution = wait_for_execution(target, run["executionArn"], quiet=as_json)
    except TimeoutError as error:
        _fail(str(error))
    record = _api(target, "GET", f"/environments/{name}")
    failure = record.get("lastBenchmarkFailure")
    if execution["status"] != "SUCCEEDED" or (failure and failure["at"] >= run["startedAt"]):
        _fail(f"benchmark failed ({execution['status']}): {failure['reason'] if failure else 'see the workflow'}; "
              f"{name} is {record['state']}")
    latest = _api(target, "GET", "/benchmarks", params={"environment": name, "limit": "1"})["benchmarks"][0]
    _print_json(latest) if as_json else out.print(_benchmark_table(latest))


@app.command()
def token(name: str, use_local: LocalOpt = False) -> None:
    """Print the environment's JupyterLab token (yours, or any for an admin; each read is logged)."""
    print(_api(_target(use_local), "GET", f"/environments/{name}/token")["token"])


def _run_sweep_function(use_local: bool, event: dict[str, Any], what: str) -> dict[str, Any]:
    """Invoke the deployment's sweep function (idle sweep and reconciler) now, as the schedule does."""
    target = _target(use_local)
    response = target.boto3_client("lambda").invoke(FunctionName=target.function_name("IdleSweepFunction"),
                                                    Payload=json.dumps(event).encode())
    payload = printable(json.loads(response["Payload"].read()))
    if response.get("FunctionError"):
        _fail(f"the {what} failed: {payload.get('errorMessage', payload)}")
    return payload


@app.command()
def sweep(use_local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Run one idle sweep now and print each decision with its evidence."""
    decisions = _run_sweep_function(use_local, {}, "sweep")["decisions"]
    if as_json:
        _print_json(decisions)
        return
    table = Table("environment", "action", "reason", "evidence")
    for decision in decisions:
        evidence = decision["evidence"]
        seen = (f"{len(evidence.get('kernels', []))} kernels, {len(evidence.get('terminals', []))} terminals, "
                f"last activity {evidence.get('last_activity') or '-'}") if evidence.get("reachable") else \
            str(evidence.get("error") or "-")
        table.add_row(decision["environment"], decision["action"], decision["reason"], seen)
    out.print(table if decisions else "no READY environments")


@app.command()
def reconcile(use_local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Settle now what failures left behind (the schedule does it too): ended starts, unfinished stops, and
    instances running for environments that are not READY. Prints each correction with its evidence."""
    corrections = _run_sweep_function(use_local, {"reconcile": True}, "reconciler")["corrections"]
    if as_json:
        _print_json(corrections)
        return
    for correction in corrections:
        out.print(f"{escape(correction['environment'])}: {correction['action']} "
                  f"({escape(json.dumps(correction['evidence'], default=str))})")
    if not corrections:
        out.print("nothing to correct: every environment's record matches its resources")


@app.command("list")
def list_environments(use_local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Every environment and its state."""
    records = _api(_target(use_local), "GET", "/environments")["environments"]
    if as_json:
        _print_json(records)
        return
    table = Table("name", "state", "instance type", "url")
    for record in records:
        table.add_row(record["name"], record["state"], record["instanceType"], record.get("url") or "")
    out.print(table)


def _measured_on(item: dict[str, Any]) -> str:
    """The instance type, and the backend where it is not the instance's accelerator (a CPU run on inf2)."""
    return item["instance_type"] if item["backend"] == "neuron" else f"{item['instance_type']} {item['backend']}"


def _history_table(items: list[dict[str, Any]], wide: bool) -> Table:
    """At 80 columns the columns a person compares runs by; --wide adds where and what each run was."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                  caption="/s: inferences per second; p50, p99: latency in ms")
    columns = ["started", *(["environment"] if wide else []), "model", "measured on", "/s", "p50", "p99",
               "verdict", *(["$/M", "run"] if wide else [])]
    for column in columns:
        table.add_column(column, justify="right" if column in ("/s", "p50", "p99", "$/M") else "left",
                         no_wrap=column not in ("model", "environment"), overflow="fold")
    for item in items:
        started = item["started_at"][:19].replace("T", " ") if wide else item["started_at"][5:16].replace("T", " ")
        cost = item.get("cost_per_million_usd")
        table.add_row(started, *([escape(item.get("environment") or "")] if wide else []), escape(item["model"]),
                      _measured_on(item), f"{item['throughput']:.1f}", f"{item['latency_ms']['p50']:.1f}",
                      f"{item['latency_ms']['p99']:.1f}", item.get("verdict", ""),
                      *([f"{cost:.2f}" if cost else "-", item.get("run_id", "")] if wide else []))
    return table


PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Also draw it: FILE.png, or FILE.html (the picture "
                                                               "and its numbers)")]


def _pages(target: Target, path: str, params: dict[str, str], key: str, wanted: int) -> list[dict[str, Any]]:
    """Up to `wanted` items of a paged listing, following nextToken (the API pages by at most 100)."""
    items: list[dict[str, Any]] = []
    token = None
    while len(items) < wanted:
        page = _api(target, "GET", path, params={**params, "limit": str(min(100, wanted - len(items))),
                                                   **({"nextToken": token} if token else {})})
        items += page[key]
        token = page.get("nextToken")
        if not token:
            break
    return items


@history_app.callback(invoke_without_command=True)
def history(
    context: typer.Context,
    model: Annotated[str | None, typer.Option()] = None,
    instance_type: Annotated[str | None, typer.Option()] = None,
    backend: Annotated[str | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="The series' workload [1]")] = None,
    sequence_length: Annotated[int | None, typer.Option(min=1, help="The series' workload [128]")] = None,
    dtype: Annotated[str | None, typer.Option(help="The series' workload [float32]")] = None,
    parallelism: Annotated[int | None, typer.Option(min=1, help="NeuronCores per model copy [1]")] = None,
    scenario: Annotated[str | None, typer.Option(help="latency, throughput or all [latency]")] = None,
    environment: Annotated[str | None, typer.Option()] = None,
    regressions: Annotated[bool, typer.Option("--regressions", help="Only confirmed regressions")] = False,
    by: Annotated[str | None, typer.Option("--by", help="With --model: instance-type, to compare where it runs "
                                                          "best for the money")] = None,
    since: Annotated[str, typer.Option(help="With --regressions: how far back, days (30d) or hours (12h)")] = "30d",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    wide: Annotated[bool, typer.Option("--wide", help="Add environment, cost per million and run id")] = False,
    plot: PlotOpt = None,
    use_local: LocalOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Benchmark history, newest first: one series (--model, --instance-type and --backend, and its workload), a
    model, an environment, or every run; --regressions lists the confirmed regressions instead. --plot draws a
    series' trend, or with --by instance-type p99 against cost."""
    if context.invoked_subcommand:
        return
    series = bool(model and instance_type and backend)
    if plot is not None:
        if not (series or by) or regressions:
            _fail("--plot: draws one series (--model, --instance-type and --backend) or --model M --by "
                  "instance-type", 2)
        _check_plot(plot)
    workload = {k: str(v) for k, v in {"batchSize": batch_size, "sequenceLength": sequence_length, "dtype": dtype,
                                       "parallelism": parallelism, "scenario": scenario}.items() if v is not None}
    target = _target(use_local)
    if by is not None:
        if by != "instance-type" or not model:
            _fail("--by: only instance-type, with --model (for example: --model bert-base --by instance-type)", 2)
        params = {"model": model, **workload, "limit": "100"}
        compared = _api(target, "GET", "/benchmarks/compare", params=params)
        if compared.get("nextToken"):  # over 100 instance types x backends: each page is sorted, merge them
            rows = compared["configurations"] + _pages(target, "/benchmarks/compare", {
                **params, "nextToken": compared.pop("nextToken")}, "configurations", 10_000)
            compared["configurations"] = instance_types.cheapest_first(rows)
        if plot is not None:
            err.print(f"plot written: {plots.instance_types(compared, plot)}")
        if as_json:
            _print_json(compared)
        else:
            out.print(_comparison_table(compared))
        return
    if regressions:
        found = _pages(target, "/benchmarks/regressions", {"since": since}, "regressions", limit)
        if as_json:
            _print_json(found)
        else:
            out.print(_regressions_table(found, since))
        return
    params = {k: v for k, v in {"model": model, "instanceType": instance_type, "backend": backend,
                                "environment": environment, **workload}.items() if v}
    items = _pages(target, "/benchmarks", params, "benchmarks", limit)
    if plot is not None:
        if not items:
            _fail("--plot: no runs in this series yet", 1)
        err.print(f"plot written: {plots.trend(items, plot)}")
    if as_json:
        _print_json(items)
        return
    out.print(_history_table(items, wide))


def _check_plot(path: Path) -> None:
    try:
        plots.check_target(path)
    except ValueError as error:
        _fail(str(error), 2)


@history_app.command("import")
def history_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a result the harness wrote (--json)")],
    use_local: LocalOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a result made by hand, on another machine, or before this deployment; it is judged like a
    workflow's run (an environment it names must be yours)."""
    try:
        result = json.loads(file.read_text())
    except (ValueError, UnicodeError) as error:
        _fail(f"{file}: not a JSON document ({error})", 2)
    stored = _api(_target(use_local), "POST", "/benchmarks", body=result)
    if as_json:
        _print_json(stored)
        return
    out.print(f"imported {escape(stored['runKey'])} into {escape(stored['series'])}: {stored['verdict']}"
              + (f"; confirms a change at {', '.join(stored['confirmed'])}" if stored["confirmed"] else ""))


def _comparison_table(compared: dict[str, Any]) -> Table | str:
    """One row per instance type x backend, cheapest per million first (as the API sorts them)."""
    rows = compared["configurations"]
    workload = compared["workload"]
    doing = (f"batch {workload['batch_size']}, sequence {workload['sequence_length']}, {workload['dtype']}, "
             f"{workload['parallelism']} core(s) per copy, {workload['scenario']}")
    if not rows:
        return f"no runs of {escape(compared['model'])} ({doing}) yet"
    table = Table("instance type", "backend", "runs", "/s", "±", "p50 ms", "p99 ms", "$/1M",
                  title=f"{escape(compared['model'])}: {doing}")
    for row in rows:
        cost = row.get("cost_per_million_usd")
        table.add_row(row["instance_type"], row["backend"], str(row["runs"]),
                      f"{row['throughput']:.1f}", f"{row['throughputSpread']:.0%}", f"{row['p50_ms']:.1f}",
                      f"{row['p99_ms']:.1f}", f"{cost:.3f}" if cost is not None else "- (CPU)")
    return table


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="the baseline run's id (history --wide shows them)")],
    run_b: Annotated[str, typer.Argument(help="the run to judge against it")],
    plot: PlotOpt = None,
    use_local: LocalOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """RUN_B against RUN_A, per configuration both measured: throughput and latency ratios, whether the latency
    distributions differ (Mann-Whitney on every latency), and what differs in where and with what they ran."""
    if plot is not None:
        _check_plot(plot)
    target = _target(use_local)
    compared = _api(target, "GET", f"/benchmarks/runs/{quote(run_a, safe='')}/compare", params={"to": run_b})
    if plot is not None:
        runs = [_api(target, "GET", f"/benchmarks/runs/{quote(r, safe='')}") for r in (run_a, run_b)]
        err.print(f"plot written: {plots.two_runs(runs[0], runs[1], compared, plot)}")
    if as_json:
        _print_json(compared)
        return
    table = Table("configuration", "/s", "×", "p50 ms", "p99 ms", "latency",
                  title=f"{escape(run_b)} against {escape(run_a)}",
                  caption="a → b; ×: b / a; latency: Mann-Whitney on every latency (p < 0.01 and median ≥ 5 %)")
    for row in compared["configurations"]:
        test = row["latency"]
        verdict = (f"{test['verdict']} ({test['p50Change']:+.1%}, p={test['pValue']:.1g})" if "pValue" in test
                   else test["verdict"])
        ratio = row["throughput"][2]
        table.add_row(row["configuration"], f"{row['throughput'][0]:.1f} → {row['throughput'][1]:.1f}",
                      f"{ratio:.3f}" if ratio is not None else "-",
                      f"{row['p50'][0]:.2f} → {row['p50'][1]:.2f}", f"{row['p99'][0]:.2f} → {row['p99'][1]:.2f}",
                      verdict)
    out.print(table)
    if not compared["sameSeries"]:
        out.print("[yellow]the runs are of different series: their workloads or machines differ[/yellow]")
    for name, (before, after) in compared["differences"].items():
        out.print(f"  {escape(name)}: {escape(str(before))} → {escape(str(after))}")
    if not compared["differences"]:
        out.print("  no difference in versions, image, AMI, zone or compiler arguments")


def _regressions_table(items: list[dict[str, Any]], since: str) -> Table | str:
    """One row per confirmed regression: where the series changed, by how much, and what else changed there."""
    if not items:
        return f"no confirmed regressions in the last {since}"
    table = Table("first bad run", "series", "measure", "change", "what changed")
    for item in items:
        changed = ", ".join(f"{k} {a}→{b}" for k, (a, b) in (item.get("fingerprintChanges") or {}).items())
        table.add_row(item["firstRun"].split("#")[0][:16].replace("T", " "), escape(item["run"]["series"]),
                      item["measure"], f"{float(item['change']):+.1%}", escape(changed) or "nothing recorded")
    return table


# ------------------------------------------------------------------ LocalCloud
@app.command()
def doctor(use_local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Check that this deployment can start an environment: stack, IAM per function, AMI, image, quotas,
    instance types, the shared edge. Read-only; one line per check with its fix."""
    from neuronlab.doctor import Doctor, describe

    checks = Doctor(_target(use_local), use_local).run()
    if as_json:
        _print_json(describe(checks))
    else:
        for check in checks:
            mark = "[green]ok  [/green]" if check.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {escape(check.name)}: {escape(check.detail)}")
            if check.fix:
                out.print(f"     fix: {escape(check.fix)}")
    failed = [c for c in checks if not c.ok]
    if failed:
        raise typer.Exit(1)


@local_app.command("up")
def local_up(poll_seconds: Annotated[int, typer.Option(min=1)] = 1) -> None:
    """Start LocalCloud in the background (state in .neuronlab/)."""
    with err.status("starting LocalCloud: emulation, orchestrator stack, API"):
        state, started = local.up(poll_seconds=poll_seconds)
    err.print(f"LocalCloud {'started' if started else 'already running'}: API {state['apiUrl']}, "
              f"AWS endpoint {state['awsEndpoint']}")


@local_app.command("down")
def local_down() -> None:
    """Stop LocalCloud and every process it started (notebooks, benchmark tasks)."""
    stopped = local.down()
    err.print(f"LocalCloud stopped ({len(stopped)} processes)" if stopped else "LocalCloud was not running")


@local_app.command("status")
def local_status(as_json: JsonOpt = False) -> None:
    """Whether LocalCloud runs, and where."""
    state = local.read_state()
    if as_json:  # the emulated person's keys stay in the state file
        _print_json({**state, "person": state["person"]["arn"]} if state else {"running": False})
    elif state:
        out.print(f"running (pid {state['pid']}): API {state['apiUrl']}, AWS endpoint {state['awsEndpoint']}")
    else:
        out.print("not running")
    if not state:
        raise typer.Exit(1)


# ------------------------------------------------------------------ demo
@app.command()
def demo(
    benchmark_model: Annotated[str, typer.Option(help="Model the benchmark runs")] = "random:bert-base",
    benchmark_seconds: Annotated[int, typer.Option(min=1)] = 10,
    as_json: JsonOpt = False,
) -> None:
    """On LocalCloud: start environment `demo`, wait, benchmark, and show how to open it."""
    from neuronlab.demo import run_demo

    try:
        summary = run_demo(benchmark_model, benchmark_seconds, err, quiet=as_json)
    except (TimeoutError, ApiError, RuntimeError) as error:
        _fail(str(error))
    if as_json:
        _print_json(summary)
        return
    environment, bench = summary["environment"], summary["benchmark"]
    out.print(f"\n[bold green]{environment['name']} is {environment['status']}[/bold green] "
              f"after {summary['execution']['seconds']:.1f} s ({summary['execution']['stateTransitions']} "
              f"state transitions); /api/status answered {summary['notebook']['apiStatusCode']}")
    out.print(f"  open:  {environment['url']}lab  (LocalCloud's edge has a self-signed certificate: "
              "your browser asks once)")
    out.print("  token: neuronlab token demo --local")
    if bench:
        out.print(_benchmark_table(bench))
    out.print("LocalCloud and the notebook keep running; `neuronlab local down` stops everything.")
    if summary["execution"]["status"] != "SUCCEEDED":
        raise typer.Exit(1)


def main() -> None:
    app()
