"""Jupyter Server REST API, reached through the environment's URL with its token."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Kernel:
    id: str
    execution_state: str
    last_activity: datetime | None
    connections: int = 0


@dataclass(frozen=True)
class Terminal:
    name: str
    last_activity: datetime | None


@dataclass(frozen=True)
class Signals:
    reachable: bool
    last_activity: datetime | None = None  # /api/status: the server's own last activity
    connections: int = 0
    kernels: list[Kernel] = field(default_factory=list)
    terminals: list[Terminal] = field(default_factory=list)
    error: str | None = None
    benchmark: str | None = None  # the execution of a benchmark running now (from the record, not the task)


def moment(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp, also with the trailing `Z` Jupyter Server writes: the image's Python may be
    3.10, whose fromisoformat does not accept `Z`."""
    if not value:
        return None
    return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)




def _open(request: urllib.request.Request, timeout: float) -> Any:
    """urlopen, trusting NEURONLAB_NOTEBOOK_CA_FILE when set (LocalCloud's self-signed edge); else the system store."""
    ca_file = os.environ.get("NEURONLAB_NOTEBOOK_CA_FILE")
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    return urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310 (scheme checked)


def api_status(base_url: str, token: str, timeout: float = 5.0) -> tuple[int, dict]:
    """GET {base_url}api/status. Returns (HTTP status, body); status 0 when unreachable.

    The token travels in the Authorization header, never in the URL (URLs end up in logs).
    """
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"notebook URL must be http(s): {base_url!r}")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        base_url.rstrip("/") + "/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with _open(request, timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return 0, {}


def _get_json(base_url: str, path: str, token: str, timeout: float) -> Any:
    # no_track_activity: the sweeper's polls must never count as user activity
    request = urllib.request.Request(  # noqa: S310 (scheme checked by the caller)
        f"{base_url.rstrip('/')}{path}?no_track_activity=1", headers={"Authorization": f"token {token}"})
    with _open(request, timeout) as response:
        return json.loads(response.read() or b"null")


def signals(base_url: str, token: str, timeout: float = 5.0) -> Signals:
    """The activity Jupyter Server reports: server, kernels, terminals. Unreachable is a signal too."""
    if not base_url.startswith(("http://", "https://")):
        return Signals(reachable=False, error=f"notebook URL is not http(s): {base_url!r}")
    try:
        status = _get_json(base_url, "/api/status", token, timeout)
        kernels = _get_json(base_url, "/api/kernels", token, timeout)
        terminals = _get_json(base_url, "/api/terminals", token, timeout)
    except urllib.error.HTTPError as error:
        return Signals(reachable=False, error=f"HTTP {error.code} from {error.url}")
    except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as error:
        return Signals(reachable=False, error=f"{type(error).__name__}: {error}")
    return Signals(
        reachable=True,
        last_activity=moment(status.get("last_activity")),
        connections=int(status.get("connections", 0)),
        kernels=[Kernel(k["id"], k.get("execution_state", "unknown"), moment(k.get("last_activity")),
                        int(k.get("connections", 0))) for k in kernels],
        terminals=[Terminal(t["name"], moment(t.get("last_activity"))) for t in terminals],
    )
