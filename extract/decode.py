"""Turn an input file into grayscale page images, at the resolution the reader needs and no more.

Content decides the format (magic bytes), not the extension: a PNG named ``.jpg`` is read, an HTML
page named ``.pdf`` is rejected. Every problem becomes a ``DecodeError`` with an enumerated reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from extract._exec.errors import ToolError
from extract._exec.pdftoppm import pdf_info, rasterize_page
from schemas.reasons import Reason
from schemas.settings import Limits, ReadSettings

A4_WIDTH_IN = 8.27
# Above this long side an image is decoded at 1/2 (1/4, 1/8): phone photos of 12 MP keep digit
# boxes of ~25 px at half size, which is what the 32 px crops need.
_REDUCE_ABOVE_PX = 3600


class DecodeError(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PageImage:
    index: int  # 0-based page index inside the file
    gray: np.ndarray  # uint8, 255 = paper
    scale: float  # decoded pixels per original pixel (1, 0.5, 0.25...); 1 for PDFs


def sniff(head: bytes) -> str | None:
    if head.startswith(b"%PDF") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def check_file(path: Path, limits: Limits) -> str:
    """Size and format checks before any decoding. Returns the sniffed kind."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise DecodeError(Reason.EMPTY_FILE, "0 bytes")
        if size > limits.max_file_bytes:
            raise DecodeError(Reason.FILE_TOO_LARGE, f"{size:,} bytes > {limits.max_file_bytes:,}")
        with open(path, "rb") as fh:
            head = fh.read(2048)
    except OSError as exc:
        raise DecodeError(Reason.UNREADABLE_FILE, exc.strerror or str(exc)) from exc
    kind = sniff(head)
    if kind is None:
        raise DecodeError(Reason.UNSUPPORTED_FORMAT, f"content starts with {head[:12]!r}")
    return kind


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header only (no pixel decoding)."""
    import io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own bomb warning: we apply our limit below
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(io.BytesIO(data)) as im:
                return im.size
        except Exception as exc:  # Pillow raises many types for broken headers
            raise DecodeError(Reason.CORRUPT_IMAGE, f"unreadable image header ({exc})") from exc


def _reduce_flag(long_side: int) -> tuple[int, float]:
    if long_side > 4 * _REDUCE_ABOVE_PX:
        return cv2.IMREAD_REDUCED_GRAYSCALE_8, 0.125
    if long_side > 2 * _REDUCE_ABOVE_PX:
        return cv2.IMREAD_REDUCED_GRAYSCALE_4, 0.25
    if long_side > _REDUCE_ABOVE_PX:
        return cv2.IMREAD_REDUCED_GRAYSCALE_2, 0.5
    return cv2.IMREAD_GRAYSCALE, 1.0


def decode_image(data: bytes, kind: str, limits: Limits) -> Iterator[PageImage]:
    w, h = _image_size(data)
    if w * h > limits.max_pixels:
        raise DecodeError(Reason.TOO_MANY_PIXELS, f"{w}x{h} = {w * h / 1e6:.0f} MP > "
                                                  f"{limits.max_pixels / 1e6:.0f} MP")
    buf = np.frombuffer(data, np.uint8)
    if kind == "tiff":
        ok, pages = cv2.imdecodemulti(buf, cv2.IMREAD_GRAYSCALE)
        if not ok or not pages:
            raise DecodeError(Reason.CORRUPT_IMAGE, "TIFF could not be decoded")
        for i, page in enumerate(pages):
            yield PageImage(i, page, 1.0)
        return
    flag, scale = _reduce_flag(max(w, h))
    img = cv2.imdecode(buf, flag)
    if img is None or img.size == 0:
        raise DecodeError(Reason.CORRUPT_IMAGE, f"{kind.upper()} could not be decoded (truncated or damaged)")
    if kind == "jpeg" and _jpeg_truncated(data):
        # libjpeg fills a truncated stream with grey and only warns: treat it as damaged.
        raise DecodeError(Reason.CORRUPT_IMAGE, "JPEG is truncated (no end-of-image marker)")
    yield PageImage(0, img, scale)


def _jpeg_truncated(data: bytes) -> bool:
    return b"\xff\xd9" not in data[-64:]


def pdf_dpi(page_width_pt: float, settings: ReadSettings) -> float:
    """Rasterise so the page is as wide as an A4 page at ``settings.pdf_dpi`` (the plano, 60 cm wide,
    is read at the resolution of its A4-reduced copy)."""
    width_in = max(page_width_pt, 1.0) / 72.0
    return settings.pdf_dpi * A4_WIDTH_IN / width_in


def decode_pdf(path: Path, limits: Limits, settings: ReadSettings) -> Iterator[PageImage]:
    try:
        info = pdf_info(path, timeout=limits.pdftoppm_timeout_s)
    except ToolError as exc:
        raise DecodeError(exc.reason, exc.detail) from exc
    if info.pages > limits.max_pdf_pages:
        raise DecodeError(Reason.TOO_MANY_PAGES, f"{info.pages} pages > {limits.max_pdf_pages}")
    dpi = pdf_dpi(info.page_size_pt[0], settings)
    w_px = info.page_size_pt[0] / 72 * dpi
    h_px = info.page_size_pt[1] / 72 * dpi
    if w_px * h_px > limits.max_pixels:
        raise DecodeError(Reason.TOO_MANY_PIXELS, f"pages would render to {w_px * h_px / 1e6:.0f} MP")
    for page in range(1, info.pages + 1):
        try:
            img = rasterize_page(path, page, dpi, timeout=limits.pdftoppm_timeout_s)
        except ToolError as exc:
            raise DecodeError(exc.reason, f"page {page}: {exc.detail}") from exc
        yield PageImage(page - 1, img, 1.0)


def decode_file(path: Path, limits: Limits, settings: ReadSettings) -> Iterator[PageImage]:
    """Yield the pages of ``path`` one at a time (memory stays flat for long PDFs)."""
    kind = check_file(path, limits)
    if kind == "pdf":
        yield from decode_pdf(path, limits, settings)
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DecodeError(Reason.UNREADABLE_FILE, exc.strerror or str(exc)) from exc
    yield from decode_image(data, kind, limits)
