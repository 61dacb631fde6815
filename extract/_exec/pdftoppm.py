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

_NUM = r"\d+(?:\.\d*)?(?:e[+-]?\d+)?"  # pdfinfo prints sizes with %g


@dataclass(frozen=True)
class PdfInfo:
    pages: int
    encrypted: bool
    page_size_pt: tuple[float, float]  # of the first page
    # Per page as rendered (rotation applied), pages 1..min(pages, max_pages) of the call: lets a
    # caller refuse a huge page before rasterising anything.
    page_sizes_pt: tuple[tuple[float, float], ...] = ()


def _classify(exc: ToolError) -> ToolError:
    text = exc.stderr.lower()
    if "incorrect password" in text or "encrypted" in text and "password" in text:
        return ToolError(exc.tool, Reason.ENCRYPTED_PDF, "the PDF needs a password", exc.stderr)
    if exc.reason is Reason.TOOL_ERROR and ("syntax error" in text or "couldn't" in text
                                            or "may not be a pdf" in text or "error" in text):
        return ToolError(exc.tool, Reason.CORRUPT_PDF, exc.detail, exc.stderr)
    return exc


def pdf_info(path: Path, timeout: float = 30, max_pages: int = 1) -> PdfInfo:
    """Page count, encryption and the sizes of the first ``max_pages`` pages (one pdfinfo call,
    whatever the page count: a PDF of 10,000 pages costs what one of 10 does)."""
    # "--" is not understood by poppler; a path is made absolute so it can never start with "-".
    args = ["-f", "1", "-l", str(max(1, int(max_pages))), str(Path(path).resolve())]
    try:
        out = run_tool("pdfinfo", args, timeout).decode("utf-8", "replace")
    except ToolError as exc:
        raise _classify(exc) from exc
    pages = int(m.group(1)) if (m := re.search(r"^Pages:\s+(\d+)", out, re.M)) else 0
    enc = bool(re.search(r"^Encrypted:\s+yes", out, re.M))
    sizes = {int(n): (float(w), float(h)) for n, w, h in
             re.findall(rf"^Page\s+(\d+) size:\s+({_NUM}) x ({_NUM}) pts", out, re.M)}
    rots = {int(n): int(r) % 360 for n, r in re.findall(r"^Page\s+(\d+) rot:\s+(-?\d+)", out, re.M)}
    if pages <= 0:
        raise ToolError("pdfinfo", Reason.CORRUPT_PDF, "the PDF has no pages")
    rendered = tuple((h, w) if rots.get(n, 0) in (90, 270) else (w, h) for n, (w, h) in sorted(sizes.items()))
    return PdfInfo(pages=pages, encrypted=enc, page_size_pt=rendered[0] if rendered else (0.0, 0.0),
                   page_sizes_pt=rendered)


def rasterize_page(path: Path, page: int, dpi: float, timeout: float = 60, gray: bool = True) -> np.ndarray:
    """Render one page (1-based) of a PDF at ``dpi``; return a uint8 image (gray or BGR)."""
    # -cropbox: render exactly the box pdfinfo reports (the crop box); by default pdftoppm renders the
    # media box, which a hostile PDF makes 20000 pt wide behind an A4 crop box (a gigapixel bomb).
    args = ["-f", str(page), "-l", str(page), "-r", f"{dpi:.2f}", "-cropbox"]
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
