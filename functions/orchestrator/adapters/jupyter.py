"""Jupyter Server REST API, reached through the environment's URL with its token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def api_status(base_url: str, token: str, timeout: float = 5.0) -> tuple[int, dict]:
    """GET {base_url}api/status. Returns (HTTP status, body); status 0 when unreachable.

    The token travels in the Authorization header, never in the URL (URLs end up in logs).
    """
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (URL from our stack)
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return 0, {}
