"""Run an external program safely: an argument list (never a shell), a timeout, a set environment."""

from __future__ import annotations

import os
import subprocess

from extract._exec.errors import ToolError
from schemas.reasons import Reason


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    # Tesseract (OpenMP) would otherwise start one thread per core in every process; we
    # parallelise across files ourselves.
    env["OMP_THREAD_LIMIT"] = "1"
    env.setdefault("LC_ALL", "C")
    return env


def run_tool(tool: str, args: list[str], timeout: float, stdin: bytes | None = None) -> bytes:
    """Run ``[tool, *args]`` and return stdout; raise ``ToolError`` on timeout or failure."""
    try:
        proc = subprocess.run(
            [tool, *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=tool_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(tool, Reason.TOOL_TIMEOUT, f"timed out after {timeout:g} s") from exc
    except FileNotFoundError as exc:
        raise ToolError(tool, Reason.TOOL_ERROR, f"{tool} is not installed (run `make run`)") from exc
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise ToolError(tool, Reason.TOOL_ERROR, f"exit {proc.returncode}: {one_line(stderr)}", stderr)
    return proc.stdout


def one_line(stderr: str, limit: int = 300) -> str:
    """What a tool said, on one line for an operator: distinct lines, the last ones kept."""
    lines = list(dict.fromkeys(" ".join(line.split()) for line in stderr.splitlines() if line.strip()))
    text = "; ".join(lines)
    return text if len(text) <= limit else "..." + text[-limit:]
