"""JSON over HTTP with the standard library: timeouts on every call, the bearer token, and the v1
error body (``{"error": code, "message": ...}``) turned into an :class:`IqaError`."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Dict, Optional, Tuple

from .errors import IqaError


class Http:
    def __init__(self, base_url: str, token: Optional[str] = None, timeout_s: float = 30.0) -> None:
        self.base = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                content_type: Optional[str] = None, timeout_s: Optional[float] = None,
                headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes, Dict[str, str]]:
        req = urllib.request.Request(self.base + path, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout_s or self.timeout_s) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers or {})
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise IqaError(f"{self.base}{path} unreachable: {reason}", 0) from e

    def json(self, method: str, path: str, body: Any = None, expect: int = 200,
             what: Optional[str] = None, timeout_s: Optional[float] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        status, raw, headers = self.request(method, path, data, "application/json" if data is not None or
                                            method == "POST" else None, timeout_s)
        return expect_json(status, raw, headers, expect, what or f"{method} {path}")


def expect_json(status: int, raw: bytes, headers: Dict[str, str], expect: int, what: str) -> Any:
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {}
    if status == expect:
        return parsed
    code = parsed.get("error") if isinstance(parsed, dict) else None
    message = parsed.get("message") if isinstance(parsed, dict) else None
    retry = headers.get("Retry-After")
    raise IqaError(f"{what} failed: {status} {code or ''}: {message or raw[:200]!r}".replace("  ", " "), status,
                   code, float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)
