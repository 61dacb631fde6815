"""The one wrapper around poppler's ``pdfinfo`` and ``pdftoppm``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from extract._exec.errors import ToolError
from extract._exec.run import run_tool
from schemas.reasons import Reason


@dataclass(frozen=True)
class PdfInfo:
    pages: int
    encrypted: bool
    page_size_pt: tuple[float, float]  # of the first page


def _classify(exc: ToolError) -> ToolError:
    text = exc.stderr.lower()
    if "incorrect password" in text or "encrypted" in text and "password" in text:
        return ToolError(exc.tool, Reason.ENCRYPTED_PDF, "the PDF needs a password", exc.stderr)
    if exc.reason is Reason.TOOL_ERROR and ("syntax error" in text or "couldn't" in text
                                            or "may not be a pdf" in text or "error" in text):
        return ToolError(exc.tool, Reason.CORRUPT_PDF, exc.detail, exc.stderr)
    return exc


def pdf_info(path: Path, timeout: float = 30) -> PdfInfo:
    # "--" is not understood by poppler; a path is made absolute so it can never start with "-".
    try:
        out = run_tool("pdfinfo", [str(Path(path).resolve())], timeout).decode("utf-8", "replace")
    except ToolError as exc:
        raise _classify(exc) from exc
    pages = int(m.group(1)) if (m := re.search(r"^Pages:\s+(\d+)", out, re.M)) else 0
    enc = bool(re.search(r"^Encrypted:\s+yes", out, re.M))
    size = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", out, re.M)
    wh = (float(size.group(1)), float(size.group(2))) if size else (0.0, 0.0)
    if pages <= 0:
        raise ToolError("pdfinfo", Reason.CORRUPT_PDF, "the PDF has no pages")
    return PdfInfo(pages=pages, encrypted=enc, page_size_pt=wh)


def rasterize_page(path: Path, page: int, dpi: float, timeout: float = 60, gray: bool = True) -> np.ndarray:
    """Render one page (1-based) of a PDF at ``dpi``; return a uint8 image (gray or BGR)."""
    args = ["-f", str(page), "-l", str(page), "-r", f"{dpi:.2f}"]
    args += ["-gray"] if gray else []
    # No output root: poppler writes raw PGM/PPM to stdout (no temporary files, no PNG codec).
    args += [str(Path(path).resolve())]
    try:
        out = run_tool("pdftoppm", args, timeout)
    except ToolError as exc:
        raise _classify(exc) from exc
    img = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    if img is None:
        raise ToolError("pdftoppm", Reason.CORRUPT_PDF, f"page {page} rendered to nothing")
    return img
