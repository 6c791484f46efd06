"""Jupyter Server REST API, reached through the environment's URL with its token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


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
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (URL from our stack)
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return 0, {}
