from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from orchestrator.adapters import aws
from orchestrator.settings import settings
from tests.helpers import create_tables_from_template


@pytest.fixture
def tables(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with the template's tables; settings point at them."""
    with mock_aws():
        aws.reset()
        names = create_tables_from_template()
        for key, value in names.items():
            monkeypatch.setenv(key, value)
        settings.cache_clear()
        yield names
        settings.cache_clear()
        aws.reset()
