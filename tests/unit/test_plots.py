"""`--plot` on history and compare: the CLI end to end against the API function in this process, on a history
with a confirmed regression, an outlier, a run with wrong outputs and five instance types (tests/helpers)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neuronlab import cli, plots
from tests.helpers import HISTORIAN, InProcessApi, synthetic_history

SERIES = ["--model", "random:bert-base", "--instance-type", "inf2.xlarge", "--backend", "neuron"]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def history(state_machine: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    api = InProcessApi(caller=HISTORIAN)  # an admin's imports: the shared history
    monkeypatch.setattr(cli, "_target", lambda use_local: api)
    return synthetic_history(api, runs=24)


def _cells(page: str) -> list[list[str]]:
    return [cells for row in re.findall(r"<tr>(.*?)</tr>", page) if (cells := re.findall(r"<td>(.*?)</td>", row))]


def test_a_series_trend_marks_its_change_point_and_its_incorrect_run(history: dict[str, str],
                                                                   tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["history", *SERIES, "--limit", "100", "--plot", str(tmp_path / "t.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "t.html").read_text()
    assert "<svg" in page
    rows = {cells[1]: cells for cells in _cells(page)}
    assert len(rows) == 24  # every run of the series, in the picture's table
    # the compiler change at run 12 is the confirmed change point; the run with wrong outputs is marked
    assert [run for run, cells in rows.items() if cells[-1] == "change point"] == ["series-12"]
    assert rows["series-16"][5] == "incorrect"
    png = CliRunner().invoke(cli.app, ["history", *SERIES, "--limit", "100", "--plot", str(tmp_path / "t.png")])
    assert png.exit_code == 0 and (tmp_path / "t.png").read_bytes().startswith(PNG)


def test_instance_types_are_drawn_p99_against_cost_with_the_pareto_front(history: dict[str, str],
                                                                          tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["history", "--model", "random:bert-base", "--by", "instance-type",
                                          "--plot", str(tmp_path / "cost.html")])
    assert result.exit_code == 0, result.output
    rows = {(c[0], c[1]): c for c in _cells((tmp_path / "cost.html").read_text())}
    assert set(rows) == {("inf2.xlarge", "neuron"), ("inf2.8xlarge", "neuron"), ("inf2.24xlarge", "neuron"),
                         ("trn1.2xlarge", "neuron"), ("inf2.xlarge", "cpu")}
    assert rows[("inf2.xlarge", "cpu")][5] == "-" and rows[("inf2.xlarge", "cpu")][6] == ""  # unpriced: not placed
    # the cheapest is on the front; inf2.24xlarge costs more than inf2.8xlarge for about the same p99: not on it
    assert rows[("inf2.xlarge", "neuron")][6] == "yes" and rows[("inf2.24xlarge", "neuron")][6] == ""


def test_the_pareto_front_keeps_what_nothing_beats_on_both() -> None:
    points = [(1.0, 10.0), (2.0, 5.0), (3.0, 6.0), (4.0, 1.0), (0.5, 20.0)]
    assert plots.pareto_front(points) == [4, 0, 1, 3]


def test_two_runs_are_drawn_and_judged_per_configuration(history: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["compare", history["before"], history["after"], "--plot",
                                          str(tmp_path / "runs.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs.png").read_bytes().startswith(PNG)
    assert "slower" in result.output and "neuronx-cc: 2.21 → 2.22" in result.output


@pytest.mark.parametrize(("arguments", "rule"), [
    (["history", *SERIES, "--plot", "trend.jpg"], "a .png or .html file"),
    (["history", "--regressions", "--plot", "r.png"], "--plot: draws one series"),
    (["history", *SERIES, "--plot", "/no/such/folder/t.png"], "does not exist")])
def test_a_plot_that_cannot_be_written_is_refused_before_anything_is_fetched(arguments: list[str], rule: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_target", lambda use_local: pytest.fail("fetched"))
    result = CliRunner().invoke(cli.app, arguments)
    assert result.exit_code == 2 and rule in result.output
