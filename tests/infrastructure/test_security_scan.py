"""IaC security scan: checkov over template.yaml and nested/, zero failed checks; every skip carries its reason."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT

CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
TEMPLATES = [ROOT / "template.yaml", *sorted((ROOT / "nested").glob("*.yml"))]


def checkov(target: Path) -> subprocess.CompletedProcess:
    if not CHECKOV.exists():
        pytest.fail(f"checkov not found at {CHECKOV}: run `make install` (it installs .venv-checkov)")
    flag = "-d" if target.is_dir() else "-f"
    return subprocess.run([str(CHECKOV), "--config-file", str(ROOT / ".checkov.yaml"), flag, str(target)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("target", [ROOT / "template.yaml", ROOT / "nested"], ids=["template.yaml", "nested"])
def test_no_failed_checks(target: Path) -> None:
    result = checkov(target)
    assert result.returncode == 0 and "Failed checks: 0" in result.stdout, result.stdout[-4000:]


def test_the_scan_fails_when_a_justified_skip_is_removed(tmp_path: Path) -> None:
    # the capacity stack skips Container Insights (billed by the hour); without the skip checkov objects
    copy = tmp_path / "nested"
    shutil.copytree(ROOT / "nested", copy)
    capacity = copy / "capacity.yml"
    capacity.write_text(capacity.read_text().replace("- id: CKV_AWS_65", "- id: CKV_AWS_NONE"))
    result = checkov(copy)
    assert result.returncode != 0 and "CKV_AWS_65" in result.stdout


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_skip_says_why(template: Path) -> None:
    for name, resource in yaml_parse(template.read_text())["Resources"].items():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "").split()) >= 5, f"{template.name} {name} {skip['id']}: say why"
