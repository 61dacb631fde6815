"""Prefect's environment, set before Prefect is imported anywhere in pindai.

Embedded by default: an ephemeral Prefect server with a project-local PREFECT_HOME (migrated by
`make` during set-up). A user who sets PREFECT_API_URL gets that server instead, untouched.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


def configure_prefect() -> None:
    root = project_root()
    home = root / ".prefect" if (root / "pyproject.toml").exists() else Path.home() / ".pindai" / "prefect"
    os.environ.setdefault("PREFECT_HOME", str(home))
    # A fresh 2-core machine needs ~30 s to migrate and 6-8 s to start the embedded server.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_ENABLED", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Operators read pindai's own summary and progress bar; Prefect's INFO chatter goes to the UI/API.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOG_PRINTS", "false")
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


