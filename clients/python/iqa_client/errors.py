"""The errors the client raises: each carries the HTTP status and the v1 error code of the answer."""
from __future__ import annotations

from typing import Optional


class IqaError(Exception):
    """A call failed: ``status`` is the HTTP status (0: the service was unreachable), ``code`` the
    v1 error code (``gpu_busy``, ``bad_image``, ``lease_lost``, ...) when the service gave one."""

    def __init__(self, message: str, status: int = 0, code: Optional[str] = None,
                 retry_after_s: Optional[float] = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


class LocalFileError(IqaError):
    """An image file that is missing, unreadable or not a regular file: the file's problem, never a
    reason to use the fallback. ``kind`` is ``not_found``, ``unreadable`` or ``not_a_file``."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message, 0, kind)
        self.kind = kind


class LeaseLost(IqaError):
    """The lease was revoked or lost; ``reason`` as the broker or the deadline rule says it."""

    def __init__(self, message: str, reason: str, revoked: bool) -> None:
        super().__init__(message, 410, "lease_lost")
        self.reason = reason
        self.revoked = revoked
