"""Template checks: cfn-lint (SAM, nested, translated), sam validate, statelint, substitutions, sam build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from localcloud.deploy import load_sam_template, translate
from tests.conftest import ROOT

NESTED = sorted((ROOT / "nested").glob("*.yml"))
SAM = Path(os.environ.get("SAM_CLI", ROOT / ".venv-sam" / "bin" / "sam"))
PY313 = Path.home() / ".pyenv" / "versions" / "3.13.0" / "bin"
ENV = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}


def run(*command: str | Path, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=ROOT, env=env or ENV, capture_output=True, text=True,
                          timeout=timeout)


def cfn_lint(*paths: Path) -> subprocess.CompletedProcess:
    return run(Path(sys.executable).parent / "cfn-lint", *paths)


def test_cfn_lint_sam_template() -> None:
    result = cfn_lint(ROOT / "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("template", NESTED, ids=lambda p: p.name)
def test_cfn_lint_nested_templates(template: Path) -> None:
    result = cfn_lint(template)
    assert result.returncode == 0, result.stdout + result.stderr


def packaged(template: dict) -> dict:
    """What `sam package` makes of local nested-stack paths: S3 URLs."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            resource["Properties"]["TemplateURL"] = f"https://bucket.s3.amazonaws.com/{resource['Properties']['TemplateURL']}"
    return template


def test_cfn_lint_translated_template(tmp_path: Path) -> None:
    # only the translated template shows dependency cycles (E3004)
    translated = tmp_path / "translated.json"
    translated.write_text(json.dumps(packaged(translate())))
    result = cfn_lint(translated)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_catches_a_cycle_in_a_translated_template(tmp_path: Path) -> None:
    # the check above can fail: give the api function a reference the state machine already depends on
    template = packaged(translate())
    env = template["Resources"]["CheckImageFunction"]["Properties"]["Environment"]["Variables"]
    env["STATE_MACHINE_ARN"] = {"Ref": "ProvisionStateMachine"}
    broken = tmp_path / "cycle.json"
    broken.write_text(json.dumps(template))
    assert "E3004" in cfn_lint(broken).stdout


@pytest.fixture(scope="module")
def sam() -> Path:
    if not SAM.exists():
        pytest.fail(f"SAM CLI not found at {SAM}: run `make install` (it installs .venv-sam)")
    return SAM


def test_sam_validate(sam: Path) -> None:
    result = run(sam, "validate")
    assert result.returncode == 0 and "is a valid SAM Template" in result.stdout, result.stdout + result.stderr


def test_sam_validate_lint(sam: Path) -> None:
    result = run(sam, "validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint() -> None:
    statelint = shutil.which("statelint", path=str(Path(sys.executable).parent))
    assert statelint
    result = run(statelint, "--ignore=URI", ROOT / "statemachine" / "provision.asl.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_definition_uri_exists_and_every_substitution_is_defined() -> None:
    resources = load_sam_template()["Resources"]
    machines = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Serverless::StateMachine"}
    assert machines
    for props in machines.values():
        definition = (ROOT / props["DefinitionUri"]).read_text()
        used = set(re.findall(r"\$\{(\w+)\}", definition))
        defined = set(props.get("DefinitionSubstitutions", {}))
        assert used == defined, f"used but undefined: {used - defined}; defined but unused: {defined - used}"
        for name, value in props["DefinitionSubstitutions"].items():
            target = value["Fn::GetAtt"][0]
            assert target in resources, f"{name} points at missing resource {target}"


def test_every_named_error_is_raised_and_every_error_the_workflow_routes_exists() -> None:
    """No dead error class (each is raised somewhere in functions/), and the ASL names no error that does not
    exist: a Retry/Catch on a misspelt name would never match."""
    import ast

    from orchestrator import errors

    raised = set()
    for path in (ROOT / "functions" / "orchestrator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
                raised.add(node.exc.func.id)
    named = {name for name, value in vars(errors).items()
             if isinstance(value, type) and issubclass(value, errors.NeuronLabError)
             and value is not errors.NeuronLabError}
    assert named - raised == set(), f"never raised: {sorted(named - raised)}"

    definition = json.loads((ROOT / "statemachine" / "provision.asl.json").read_text())
    routed = {name for state in definition["States"].values()
              for clause in state.get("Retry", []) + state.get("Catch", []) for name in clause["ErrorEquals"]}
    assert {n for n in routed if not n.startswith(("States.", "Lambda."))} <= named


def test_each_function_has_the_variables_its_handler_needs() -> None:
    """Each handler names the settings it needs (lambda_entry); its template entry (Globals and its own
    Environment) sets each of them, and every variable it sets is a setting or Powertools'."""
    import importlib
    from dataclasses import fields

    from orchestrator.settings import Settings

    template = load_sam_template()
    shared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    known = {f.name.upper() for f in fields(Settings)}
    checked = 0
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        module, function = resource["Properties"]["Handler"].rsplit(".", 1)
        needs = {n.upper() for n in getattr(importlib.import_module(module), function).needs}
        given = shared | set((resource["Properties"].get("Environment") or {}).get("Variables", {}))
        assert needs <= given, f"{name} lacks {sorted(needs - given)}"
        assert {v for v in given if not v.startswith("POWERTOOLS_")} <= known, name
        checked += 1
    assert checked >= 12


def test_every_handler_in_the_template_is_importable() -> None:
    import importlib

    for name, resource in load_sam_template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            module, function = resource["Properties"]["Handler"].rsplit(".", 1)
            assert callable(getattr(importlib.import_module(module), function)), name


def test_the_lambda_asset_carries_the_nested_templates() -> None:
    asset = ROOT / "functions" / "orchestrator" / "nested"
    assert sorted(p.name for p in asset.glob("*.yml")) == [p.name for p in NESTED]


def test_parent_template_uses_the_getatt_form_moto_reads() -> None:
    # moto misreads both !GetAtt short forms of Child.Outputs.X; the parent uses the long form only
    assert "!GetAtt" not in (ROOT / "nested" / "environment.yml").read_text()


CODE_SIZE_UNZIPPED = 250 * 1024 * 1024


@pytest.mark.slow
def test_sam_build_for_python313(sam: Path, tmp_path: Path) -> None:
    if not (PY313 / "python3.13").exists():
        pytest.fail(f"python3.13 not found at {PY313} (pyenv 3.13.0 is needed for `sam build`)")
    env = {**ENV, "PATH": f"{PY313}:{ENV['PATH']}"}
    result = run(sam, "build", "--build-dir", tmp_path / "build", "--cache-dir", tmp_path / "cache", env=env,
                 timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    asset = tmp_path / "build" / "DeployStacksFunction"
    assert (asset / "orchestrator" / "nested" / "environment.yml").exists()
    assert (asset / "neuronlab_core" / "instance_types.json").exists()  # the core package, by its link
    assert list((asset / "pydantic_core").glob("*cpython-313-x86_64-linux-gnu.so"))
    assert (asset / "aws_lambda_powertools").is_dir()
    assert not (asset / "scipy").exists()  # change detection's science stack is StoreMetrics' layer alone
    layer = tmp_path / "build" / "AnalysisLayer"
    assert list((layer / "python" / "scipy").glob("**/*cpython-313-x86_64-linux-gnu.so"))
    assert list((layer / "python").glob("pyhdrh*cpython-313-x86_64-linux-gnu.so"))  # hdrhistogram's C part
    # A function and its layers extracted: at most 250 MB (Lambda developer guide, quotas, "Deployment package
    # (.zip file archive) size": 250 MB unzipped, including layers; AccountLimit.CodeSizeUnzipped); LocalCloud
    # does not check it
    for function in ("ApiFunction", "StoreMetricsFunction"):
        size = sum(f.stat().st_size for folder in (tmp_path / "build" / function, layer)
                   for f in folder.rglob("*") if f.is_file())
        assert size < CODE_SIZE_UNZIPPED, (function, size)


def test_the_benchmark_step_is_never_retried() -> None:
    """A retry after RunTask succeeded would put a second benchmark on the same Neuron devices."""
    definition = json.loads((ROOT / "statemachine" / "provision.asl.json").read_text())
    step = definition["States"]["RunBenchmark"]
    assert "Retry" not in step
    assert step["Parameters"]["Payload"]["execution.$"] == "$$.Execution.Name"  # RunTask's client token


def test_the_api_invokes_its_function_with_no_caller_credentials() -> None:
    """SAM's AWS_IAM default (`credentials: arn:aws:iam::*:user/*`) makes API Gateway invoke the function with the
    caller's own credentials; InvokeRole: NONE uses the function's resource policy (SAM issues #923, #1708)."""
    from localcloud import apigateway, iam

    template = translate()
    methods = apigateway.integrations(template, "ApiFunction")
    assert len(methods) >= 15
    assert [m for m in methods if m.credentials is not None] == []
    permissions = apigateway.invoke_permissions(template, "ApiFunction", "us-east-1", "123456789012")
    for method in methods:  # and the resource policy admits every method
        example = re.sub(r"\{[^}]+\}", "x", method.resource)
        arn = f"arn:aws:execute-api:us-east-1:123456789012:{apigateway.API_ID}/v1/{method.method}{example}"
        assert any(iam.wildcard_match(p, arn) for p in permissions), arn
