"""Where every `make bench` script writes its numbers: bench-results/NAME.json (gitignored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "bench-results"


def write(name: str, results: dict[str, Any]) -> Path:
    """bench-results/NAME.json, indented; returns its path."""
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return out
