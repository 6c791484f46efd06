"""What the CLI prints is what the server said, and a first run without AWS configuration says what to do."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from neuronlab import cli


def test_server_text_is_printed_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    """rich reads [a-z] as markup: the rule in a validation message must survive."""
    message = "name: String should match pattern '^[a-z][a-z0-9-]{1,30}[a-z0-9]$'"
    with pytest.raises(typer.Exit):
        cli._fail(message)
    assert message in capsys.readouterr().err


def test_no_region_configured_says_what_is_missing_and_offers_local(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, ["list"])
    assert result.exit_code == 1
    assert "no AWS region is configured" in result.output and "--local" in result.output


def _run(index: int, model: str = "random:bert-base") -> dict:
    return {"started_at": f"2026-11-27T09:{index:02d}:05.123456+00:00", "environment": "team-a-notebook",
            "model": model, "instance_type": "inf2.48xlarge", "backend": "neuron", "throughput": 12345.6,
            "latency_ms": {"p50": 1.23, "p99": 45.67}, "verdict": "regression", "cost_per_million_usd": 0.29,
            "run_id": "0123456789ab"}


def test_history_fits_80_columns_without_cutting_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [_run(1), _run(2, "meta-llama/Llama-3.1-8B-Instruct"),
             {**_run(3), "instance_type": "inf2.xlarge", "backend": "cpu"}]
    monkeypatch.setattr(cli, "_target", lambda use_local: None)
    monkeypatch.setattr(cli, "_api", lambda *args, **kwargs: {"benchmarks": items})
    monkeypatch.setattr(cli, "out", Console(width=80, emoji=False, record=True))
    CliRunner().invoke(cli.app, ["history"])
    text = cli.out.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, text
    assert "…" not in text
    for value in ("11-27 09:01", "random:bert-base", "inf2.48xlarge", "12345.6", "1.2", "45.7", "regression",
                  "inf2.xlarge cpu"):  # a CPU run says so next to the instance type it ran on
        assert value in text, (value, text)
    assert "meta-llama/Llama-3" in text and ".1-8B-Instruct" in text  # a long model name folds, it is not cut


def test_history_wide_shows_environment_cost_and_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_target", lambda use_local: None)
    monkeypatch.setattr(cli, "_api", lambda *args, **kwargs: {"benchmarks": [_run(1)]})
    monkeypatch.setattr(cli, "out", Console(width=160, emoji=False, record=True))
    CliRunner().invoke(cli.app, ["history", "--wide"])
    text = cli.out.export_text()
    assert "team-a-notebook" in text and "0.29" in text and "0123456789ab" in text and "2026-11-27 09:01:05" in text


def test_history_regressions_names_the_first_bad_run_and_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    found = [{"firstRun": "2026-11-27T09:05:05.123456+00:00#0123456789ab", "measure": "throughput",
              "change": -0.124, "run": {"series": "random:bert-base#inf2.xlarge#neuron"},
              "fingerprintChanges": {"neuronx-cc": ["2.14", "2.15[bold]"]}}]
    asked = {}

    def api(target: object, method: str, path: str, params: dict) -> dict:
        asked.update(path=path, **params)
        return {"regressions": found}

    monkeypatch.setattr(cli, "_target", lambda use_local: None)
    monkeypatch.setattr(cli, "_api", api)
    monkeypatch.setattr(cli, "out", Console(width=120, emoji=False, record=True))
    CliRunner().invoke(cli.app, ["history", "--regressions", "--since", "7d"])
    text = cli.out.export_text()
    assert asked == {"path": "/benchmarks/regressions", "since": "7d", "limit": "20"}
    for value in ("2026-11-27 09:05", "random:bert-base#inf2.xlarge#neuron", "throughput", "-12.4%",
                  "neuronx-cc 2.14→2.15[bold]"):  # text the task wrote is shown, never read as markup
        assert value in text, (value, text)
    found.clear()
    CliRunner().invoke(cli.app, ["history", "--regressions"])
    assert "no confirmed regressions in the last 30d" in cli.out.export_text()


def test_history_import_sends_the_file_and_says_where_it_went(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    sent = {}

    def api(target: object, method: str, path: str, body: dict) -> dict:
        sent.update(method=method, path=path, body=body)
        return {"series": "m#inf2.xlarge#neuron", "runKey": "2026-11-20T10:00:00+00:00#r1", "verdict": "suspect",
                "confirmed": []}

    monkeypatch.setattr(cli, "_target", lambda use_local: None)
    monkeypatch.setattr(cli, "_api", api)
    monkeypatch.setattr(cli, "out", Console(width=120, emoji=False, record=True))
    result_file = tmp_path / "run.json"
    result_file.write_text('{"run_id": "r1"}')
    assert CliRunner().invoke(cli.app, ["history", "import", str(result_file)]).exit_code == 0
    assert sent == {"method": "POST", "path": "/benchmarks", "body": {"run_id": "r1"}}
    assert "imported 2026-11-20T10:00:00+00:00#r1 into m#inf2.xlarge#neuron: suspect" in cli.out.export_text()
    result_file.write_text("not json")
    failed = CliRunner().invoke(cli.app, ["history", "import", str(result_file)])
    assert failed.exit_code == 2 and "not a JSON document" in failed.output


def test_history_by_instance_type_shows_the_comparison_cheapest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = {"model": "bert-base", "workload": {"batch_size": 4, "sequence_length": 128, "dtype": "float32",
                                                   "parallelism": 1, "scenario": "latency"}, "configurations": [
        {"instance_type": "inf2.8xlarge", "backend": "neuron", "runs": 4, "throughput": 4000.0,
         "throughputSpread": 0.021, "p50_ms": 0.91, "p99_ms": 1.4, "cost_per_million_usd": 0.137},
        {"instance_type": "inf2.xlarge", "backend": "cpu", "runs": 1, "throughput": 50.0,
         "throughputSpread": 0.0, "p50_ms": 20.0, "p99_ms": 25.0, "cost_per_million_usd": None}]}
    monkeypatch.setattr(cli, "_target", lambda use_local: None)
    monkeypatch.setattr(cli, "_api", lambda *args, **kwargs: compared)
    monkeypatch.setattr(cli, "out", Console(width=100, emoji=False, record=True))
    assert CliRunner().invoke(cli.app, ["history", "--model", "bert-base", "--by", "instance-type"]).exit_code == 0
    text = cli.out.export_text()
    assert "bert-base: batch 4, sequence 128, float32, 1 core(s) per copy, latency" in text  # the workload compared
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if "inf2.8xlarge" in line)
    assert all(v in lines[first] for v in ("neuron", "4000.0", "2%", "0.9", "1.4", "0.137"))
    assert "- (CPU)" in lines[first + 1]
    refused = CliRunner().invoke(cli.app, ["history", "--by", "instance-type"])
    assert refused.exit_code == 2 and "--by: only instance-type, with --model" in refused.output


HOSTILE = "bert\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\\x1b[2J\x1b[31m\x9b0m"


def assert_inert(shown: str) -> None:
    """The hostile text is there as text; none of its sequences reached the terminal (rich's own styling does)."""
    assert "evil.example" in shown
    for sequence in ("\x1b]8;;https://evil", "\x1b[2J", "\x1b[31m", "\x9b"):
        assert sequence not in shown, sequence


def _terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The CLI's console as a terminal shows it: the raw characters it writes."""
    screen = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=screen, width=120, emoji=False, force_terminal=True))
    return screen


def test_another_users_strings_cannot_drive_the_terminal_in_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """An imported run's model name (anyone's) with a hyperlink, a screen clear and colours prints as its text."""
    screen = _terminal(monkeypatch)
    monkeypatch.setattr(cli, "_target", lambda use_local: Fake())
    CliRunner().invoke(cli.app, ["history", "--wide"])
    assert_inert(screen.getvalue())


def test_a_containers_strings_cannot_drive_the_terminal_in_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep's evidence quotes what a notebook task reported."""
    screen = _terminal(monkeypatch)
    monkeypatch.setattr(cli, "_target", lambda use_local: Fake())
    result = CliRunner().invoke(cli.app, ["sweep"])
    assert result.exit_code == 0, result.output
    assert_inert(screen.getvalue())


class Fake:
    """The deployment as the CLI reaches it: the API (history) and the sweep function, answering hostile text."""

    api_url = "https://api.example/v1"

    def request(self, method: str, path: str, **kwargs: object) -> dict:
        return {"benchmarks": [{**_run(1), "model": HOSTILE, "environment": HOSTILE}]}

    def function_name(self, logical_id: str) -> str:
        return "sweep"

    def boto3_client(self, service: str) -> object:
        decision = {"environment": "alpha", "action": "keep", "reason": HOSTILE,
                    "evidence": {"reachable": False, "error": HOSTILE}}
        payload = io.BytesIO(json.dumps({"decisions": [decision]}).encode())
        return type("Lambda", (), {"invoke": lambda self, **kwargs: {"Payload": payload}})()
