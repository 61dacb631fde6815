"""Shared fixtures. ../shared beside the project holds the official forms and real handwriting;
tests that need it skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def shared_path(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available (../shared is absent)")
    return p


@pytest.fixture
def shared() -> type:
    class _S:
        path = staticmethod(shared_path)

    return _S
