"""The pipeline's version, recorded in provenance and part of every cache key."""

from __future__ import annotations

import importlib.metadata
from functools import cache


@cache
def pipeline_version() -> str:
    try:
        return importlib.metadata.version("pindai")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
