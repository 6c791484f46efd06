"""What a run ran on beyond its series: software versions, image, AMI, zone, compiler arguments.

A difference between two runs of a series is the first place to look for the cause of a change; the
orchestrator names it at a change point, `compare` between two runs, the trend plot where it happens.
Plain Python on purpose: every step function imports it, none of them needs pydantic for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A run's fields (beside `versions`) that describe where and with what it ran, and their names in a fingerprint
FIELDS = {"image_digest": "image", "ami_id": "AMI", "availability_zone": "zone", "compiler_args": "compiler args"}


def of(run: Mapping[str, Any]) -> dict[str, str]:
    """A run's fingerprint (from its fields or its stored item): each version by package, then FIELDS."""
    found = {k: str(v) for k, v in (run.get("versions") or {}).items()}
    for field, name in FIELDS.items():
        value = run.get(field)
        if value:
            found[name] = " ".join(value) if isinstance(value, list) else str(value)
    return found


def changes(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, list[str | None]]:
    """What differs between two fingerprints: {name: [before, after]}, a side missing as None."""
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
