"""One settings object: limits, thresholds and locations (the pipeline's "catalog").

Every limit has a safe default and can be overridden from the environment (``PINDAI_<NAME>``,
e.g. ``PINDAI_MAX_PIXELS=80000000``) or by the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

SUPPORTED_EXTENSIONS = (".pdf", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")


class Limits(BaseModel):
    max_file_bytes: int = Field(200 * 1024 * 1024, description="larger files are rejected")
    max_pixels: int = Field(120_000_000, description="decoded (or rendered) pixels per page")
    max_pdf_pages: int = Field(50, description="a PDF holds the pages of one form")
    pdftoppm_timeout_s: float = 60.0
    tesseract_timeout_s: float = 20.0


class ReadSettings(BaseModel):
    # Pixels per layout unit the reader needs: digit boxes of about 45 pt on the plano become
    # ~30 px, plenty for a 32x32 crop; decoding or rasterising finer only costs time.
    target_box_px: float = 36.0
    # Rasterise PDFs at this many dots per inch of an A4-equivalent page (see extract.decode).
    pdf_dpi: float = 150.0
    # Bubbles: a bubble counts as blackened above this fill ratio.
    bubble_fill: float = 0.6
    header_ocr: bool = True
    # OCR the printed kecamatan and desa names too. They are compared only with a TPS register's
    # names, and reading them is most of the header's cost (measured: 0.92 s of Tesseract CPU for
    # the 72 header crops of 24 scan pages, the TPS numbers alone a small part of it), so the
    # pipeline turns this on only when it has a register (``flows.pipeline.reading_settings``).
    header_names: bool = False


def state_dir() -> Path:
    """Where pindai keeps what it learns between runs (reviewed crops, promoted models):
    ``PINDAI_STATE_DIR``, else ``.state/`` of the project checkout, else ``~/.pindai``."""
    env = os.environ.get("PINDAI_STATE_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[1]
    return root / ".state" if (root / "pyproject.toml").exists() else Path.home() / ".pindai"


def _state_path(env: str, name: str) -> str:
    return os.environ.get(env) or str(state_dir() / name)


class LearnSettings(BaseModel):
    """Learning from the stewards (``pindai review apply`` -> ``pindai model update``)."""

    # Labelled box crops from the stewards' decisions: npz shards + index.jsonl (append-only).
    reviewed_dir: str = Field(default_factory=lambda: _state_path("PINDAI_REVIEWED_DIR", "reviewed"))
    # Promoted digit models (<models_dir>/<version>/digits.onnx|json and a ``current`` pointer);
    # the reader uses the current one when there is one, else the packaged model.
    models_dir: str = Field(default_factory=lambda: _state_path("PINDAI_MODELS_DIR", "models"))
    # A form's boxes are held out for evaluation when sha256("<region>/<form type>") % this == 0.
    held_out_every: int = 5


class Settings(BaseModel):
    limits: Limits = Field(default_factory=Limits)
    read: ReadSettings = Field(default_factory=ReadSettings)
    learn: LearnSettings = Field(default_factory=LearnSettings)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1)
    chunk_files: int = Field(24, description="files per Prefect task")
    cache_dir: str | None = Field(None, description="finished per-file work, reused by reruns")

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        s = cls(**overrides)
        for name in ("workers", "chunk_files"):
            env = os.environ.get(f"PINDAI_{name.upper()}")
            if env is not None and name not in overrides:
                setattr(s, name, int(env))
        for section in (s.limits, s.read, s.learn):
            for name in type(section).model_fields:
                env = os.environ.get(f"PINDAI_{name.upper()}")
                if env is not None:
                    setattr(section, name, _parse(env, type(getattr(section, name))))
        return s


def _parse(text: str, kind: type) -> Any:
    if kind is bool:
        return text.strip().lower() in {"1", "true", "yes", "on"}
    return kind(text)
