"""Promoted digit models: ``<models_dir>/<version>/digits.onnx|json`` and a ``current`` pointer.

The reader uses the current promoted model when there is one, else the packaged model
(``extract/models``). A version folder is written under a temporary name and renamed, and the
pointer is replaced in one step, so a reader sees either the old model or the new one, never a
half-written one. Version folders are never modified after promotion: a reader may cache by path.
Comparison reports of every update (promoted or not) live in ``<models_dir>/reports/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

POINTER = "current"
REPORTS = "reports"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


@dataclass(frozen=True)
class ModelFiles:
    version: str
    onnx: Path
    meta: Path


def current_model(models_dir: Path | str | None) -> ModelFiles | None:
    """The promoted current model, or None (no store, no pointer, or a pointer to nothing: the
    packaged model is used then, rather than failing a batch over a damaged store)."""
    if not models_dir:
        return None
    root = Path(models_dir)
    try:
        version = (root / POINTER).read_text("utf-8").strip()
    except OSError:
        return None
    if not _VERSION.match(version):
        return None
    onnx, meta = root / version / "digits.onnx", root / version / "digits.json"
    return ModelFiles(version, onnx, meta) if onnx.is_file() and meta.is_file() else None


def promote(models_dir: Path | str, onnx: Path, meta: dict) -> ModelFiles:
    """Install a model under its version and point ``current`` at it (with its second opinion's
    network, ``meta["second_opinion"]["model"]``, copied from beside ``onnx``)."""
    root = Path(models_dir)
    version = str(meta["version"])
    if not _VERSION.match(version):
        raise ValueError(f"bad model version {version!r}")
    root.mkdir(parents=True, exist_ok=True)
    final = root / version
    if not final.exists():
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".tmp-{version}-"))
        shutil.copyfile(onnx, tmp / "digits.onnx")
        if meta.get("second_opinion"):
            name = Path(str(meta["second_opinion"]["model"])).name
            shutil.copyfile(Path(onnx).parent / name, tmp / name)
        (tmp / "digits.json").write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
        os.replace(tmp, final)
    _write_atomic(root / POINTER, version + "\n")
    return ModelFiles(version, final / "digits.onnx", final / "digits.json")


def versions(models_dir: Path | str) -> list[str]:
    root = Path(models_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and _VERSION.match(p.name) and (p / "digits.onnx").is_file())


def write_report(models_dir: Path | str, name: str, report: dict) -> Path:
    path = Path(models_dir) / REPORTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(report, indent=1) + "\n")
    return path


def last_report(models_dir: Path | str) -> tuple[Path, dict] | None:
    root = Path(models_dir) / REPORTS
    reports = sorted(root.glob("*.json")) if root.is_dir() else []
    for path in reversed(reports):  # names start with a UTC timestamp: the last is the newest
        try:
            return path, json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
    return None


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
