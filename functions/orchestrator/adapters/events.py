"""EventBridge: NeuronLab's own events on the default bus (source `neuronlab`)."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.adapters.aws import client

SOURCE = "neuronlab"


def publish(detail_type: str, detail: dict[str, Any]) -> None:
    client("events").put_events(Entries=[{"Source": SOURCE, "DetailType": detail_type,
                                          "Detail": json.dumps(detail, default=str)}])
