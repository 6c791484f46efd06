"""The image, checked offline (no Docker engine here): hadolint on the Dockerfile, `vermin` on every module
the image runs for the oldest Python the Dockerfile admits, and the settings the task definitions rely on.

Facts from aws-neuron/deep-learning-containers (pytorch/inference/*/Dockerfile.neuronx): the Neuron images
name their Python in the tag (py310, py311, py312), create `model-server` (and Ubuntu 24.04 brings `ubuntu`,
uid 1000), end with ENTRYPOINT dockerd-entrypoint.py (runs the command, then `tail -f /dev/null`) and a
HEALTHCHECK on TorchServe's port.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT

DOCKERFILE = ROOT / "container" / "Dockerfile"
OLDEST_PYTHON = (3, 10)  # the oldest Python of a Neuron PyTorch inference image in use (py310 tags)
# What the task definitions run with `python -m` (nested/notebook.yml); jupyter itself is a dependency.
ENTRY_MODULES = ["neuronbench.__main__", "neuronlab_activity.__main__"]


def _package_dirs() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {package: ROOT / folder for package, folder in config.items()}


def _module_file(module: str, packages: dict[str, Path]) -> Path | None:
    top, *rest = module.split(".")
    if top not in packages:
        return None
    base = packages[top].joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def image_modules() -> set[Path]:
    """Every first-party file the image's entry points import, lazily imported ones included."""
    packages = _package_dirs()
    seen: set[Path] = set()
    todo = list(ENTRY_MODULES)
    while todo:
        module = todo.pop()
        parts = module.split(".")
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        for depth in range(1, len(parts) + 1):
            path = _module_file(".".join(parts[:depth]), packages)
            if path is None or path in seen:
                continue
            seen.add(path)
            package = ".".join(parts[:depth]) if path.name == "__init__.py" else ".".join(parts[:depth - 1])
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    todo += [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base])
                        base = base.strip(".")
                    todo += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return seen


def dockerfile_arg(name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, f"container/Dockerfile has no ARG {name}=..."
    return match.group(1)


def test_the_image_closure_is_the_container_code_and_the_core_package() -> None:
    """The import graph between folders: container -> core, never container -> functions."""
    folders = {p.relative_to(ROOT).parts[0] for p in image_modules()}
    assert folders == {"container", "core"}, folders
    names = {p.relative_to(ROOT).as_posix() for p in image_modules()}
    assert {"container/neuronbench/cli.py", "container/neuronbench/runner.py",
            "container/neuronlab_activity/reporter.py", "core/neuronlab_core/jupyter.py",
            "core/neuronlab_core/benchmark.py", "core/neuronlab_core/instance_types.py"} <= names


# What the Neuron PyTorch DLC brings (its Dockerfile.neuronx installs them), and pip names of import names
BASE_PROVIDES = {"torch", "torch_neuronx", "numpy"}
PIP_NAMES = {"hdrh": "hdrhistogram", "neuronlab_core": None, "neuronbench": None, "neuronlab_activity": None}


def test_every_library_the_image_code_imports_is_installed_by_the_dockerfile_or_the_base() -> None:
    """core installs with --no-deps: a library core or the harness starts to use must be added to the
    Dockerfile's pip line (hdrhistogram was, with the latency histograms)."""
    imported = set()
    for path in image_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported - sys.stdlib_module_names - BASE_PROVIDES if PIP_NAMES.get(m, m)}
    installed = set(re.findall(r"([A-Za-z0-9_-]+)==", DOCKERFILE.read_text()))
    missing = {PIP_NAMES.get(m, m) for m in third_party} - installed
    assert not missing, f"imported by the image's code, installed by neither the Dockerfile nor the base: {missing}"


def test_the_image_installs_the_core_package_and_copies_no_lambda_code() -> None:
    text = DOCKERFILE.read_text()
    assert "COPY core/" in text and "pip install --no-cache-dir --no-deps /tmp/neuronlab-core" in text
    assert "functions/" not in text


def test_core_imports_neither_the_functions_nor_the_container() -> None:
    import ast

    for path in (ROOT / "core" / "neuronlab_core").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(m.split(".")[0] in ("orchestrator", "neuronbench", "neuronlab_activity", "neuronlab",
                                               "localcloud") for m in modules), (path, modules)


def test_everything_the_image_runs_works_on_its_oldest_python() -> None:
    target = ".".join(map(str, OLDEST_PYTHON))
    files = sorted(str(p) for p in image_modules())
    result = subprocess.run([str(Path(sys.executable).parent / "vermin"), f"--target={target}-", "--violations",
                             "--no-tips", "--eval-annotations", *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_base_image_python_is_one_the_code_supports() -> None:
    match = re.search(r"-py3(\d+)-", dockerfile_arg("NEURON_BASE_IMAGE"))
    assert match, "the Neuron base image tag names its Python (pyNNN)"
    assert (3, int(match.group(1))) >= OLDEST_PYTHON


def test_hadolint_is_clean() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "hadolint"), str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_replaces_the_base_entrypoint_and_healthcheck() -> None:
    """The base's entrypoint keeps a container alive after its command ends: a benchmark task would never stop."""
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    assert "ENTRYPOINT []" in lines
    assert "HEALTHCHECK NONE" in lines


def test_notebook_user_matches_the_home_access_point() -> None:
    uid = dockerfile_arg("NOTEBOOK_UID")
    assert uid != "1000", "uid 1000 is taken in the Neuron base images (ubuntu / model-server)"
    point = yaml_parse((ROOT / "nested" / "notebook.yml").read_text())["Resources"]["HomeAccessPoint"]["Properties"]
    assert point["PosixUser"] == {"Uid": uid, "Gid": uid}
    assert (point["RootDirectory"]["CreationInfo"]["OwnerUid"], point["RootDirectory"]["CreationInfo"]["OwnerGid"]) \
        == (uid, uid)


def test_every_container_runs_with_an_init_process() -> None:
    resources = yaml_parse((ROOT / "nested" / "notebook.yml").read_text())["Resources"]
    containers = [c for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"
                  for c in r["Properties"]["ContainerDefinitions"]]
    assert containers
    assert all(c.get("LinuxParameters", {}).get("InitProcessEnabled") is True for c in containers), \
        [c["Name"] for c in containers if not c.get("LinuxParameters", {}).get("InitProcessEnabled")]


def test_what_the_dockerfile_copies_exists_and_passes_dockerignore() -> None:
    sources = re.findall(r"^COPY (\S+) ", DOCKERFILE.read_text(), re.MULTILINE)
    allowed = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source in allowed, f"{source} is excluded by .dockerignore"
