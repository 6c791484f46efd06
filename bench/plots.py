"""The pictures `--plot` draws (issue 13), from a history a person would want to look at: a series whose
throughput drops 10 % when the compiler changes, with an outlier before and a run with wrong outputs after; the
model on five instance types; and the runs either side of the change.

Runs the CLI's commands against the API function in this process (moto, the template's tables; the same route
code as deployed), importing the history through POST /benchmarks so that detection marks it as it would.
Writes bench-results/plots/{trend,instance-types,compare}.{png,html}."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "functions"), str(ROOT / "cli"), str(ROOT / "local")]
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the API's request log, one line per call: not here
for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(key, "bench")

from moto import mock_aws  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

SERIES = ["--model", "random:bert-base", "--instance-type", "inf2.xlarge", "--backend", "neuron"]


def main() -> None:
    from neuronlab import cli
    from orchestrator.adapters import aws
    from orchestrator.settings import settings
    from tests.helpers import HISTORIAN, InProcessApi, create_tables_from_template, synthetic_history

    out = ROOT / "bench-results" / "plots"
    out.mkdir(parents=True, exist_ok=True)
    with mock_aws():
        aws.reset()
        os.environ.update(create_tables_from_template())
        os.environ.setdefault("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:none")
        os.environ.setdefault("ENVIRONMENT_STACK_ROLE_ARN", "arn:aws:iam::123456789012:role/neuronlab-stacks")
        os.environ["ADMIN_PRINCIPALS"] = HISTORIAN  # an admin's imports make the shared history
        settings.cache_clear()
        api = InProcessApi(caller=HISTORIAN)
        cli._target = lambda use_local: api  # type: ignore[assignment]
        roles = synthetic_history(api, runs=40)
        commands = {"trend": ["history", *SERIES, "--limit", "100"],
                    "instance-types": ["history", "--model", "random:bert-base", "--by", "instance-type"],
                    "compare": ["compare", roles["before"], roles["after"]]}
        for name, command in commands.items():
            for suffix in (".png", ".html"):
                result = CliRunner().invoke(cli.app, [*command, "--plot", str(out / f"{name}{suffix}")])
                if result.exit_code:
                    raise SystemExit(f"{' '.join(command)}: {result.output}")
            print(result.output)
    for path in sorted(out.iterdir()):
        print(f"-> {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
