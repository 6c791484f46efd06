"""What the CLI prints is what the server said, and a first run without AWS configuration says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
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
