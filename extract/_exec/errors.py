"""Typed errors raised by the external-tool wrappers."""

from __future__ import annotations

from schemas.reasons import Reason


class ToolError(Exception):
    """An external tool failed. ``reason`` is the enumerated outcome; ``stderr`` what it said."""

    def __init__(self, tool: str, reason: Reason, detail: str, stderr: str = "") -> None:
        super().__init__(f"{tool}: {detail}")
        self.tool = tool
        self.reason = reason
        self.detail = detail
        self.stderr = stderr
