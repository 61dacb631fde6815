"""Turn an input file into grayscale page images, at the resolution the reader needs and no more.

Content decides the format (magic bytes), not the extension: a PNG named ``.jpg`` is read, an HTML
page named ``.pdf`` is rejected. Every problem becomes a ``DecodeError`` with an enumerated reason.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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
    chatter: tuple[str, ...] = ()  # what the C decoders wrote while decoding it (see ``quiet``)


# fd 2 is one per process: one capture at a time (decoding threads of one process take turns).
_STDERR = threading.Lock()
_CHATTER_CHARS = 200  # of the decoders' words in a file's one-line detail


@contextmanager
def quiet() -> Iterator[list[str]]:
    """Capture what C libraries (libpng, libjpeg, libtiff via OpenCV and Pillow) write straight to
    file descriptor 2 while decoding: on a damaged file they talk ("libpng error: IDAT: CRC error",
    "Corrupt JPEG data: ...") and would flood the operator's terminal. The yielded list receives
    their distinct lines, which go into the file's detail instead."""
    said: list[str] = []
    with _STDERR, tempfile.TemporaryFile() as tmp:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no fd 2 at all: nothing can be printed either
            yield said
            return
        os.dup2(tmp.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read(64 * 1024).decode("utf-8", "replace")
            said.extend(dict.fromkeys(" ".join(ln.split()) for ln in text.splitlines() if ln.strip()))


def chatter_text(lines: list[str] | tuple[str, ...]) -> str:
    """The decoders' distinct lines as one short line (for a file's detail)."""
    text = " | ".join(dict.fromkeys(lines))
    return text if len(text) <= _CHATTER_CHARS else text[: _CHATTER_CHARS - 3] + "..."


def _with_chatter(exc: DecodeError, said: list[str]) -> DecodeError:
    if said:
        exc.detail = f"{exc.detail}; decoder: {chatter_text(said)}"
        exc.args = (exc.detail,)
    return exc


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


def read_regular(path: Path, limits: Limits, n: int | None = None) -> bytes:
    """The first ``n`` bytes (all when None) of a regular file, after the size checks. Opened without
    blocking and checked on the open descriptor: a FIFO or a device put in the file's place after
    planning cannot hang a worker."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        # The planner read this file (its checksum): failing to open it now is the run's problem
        # (removed or moved meanwhile, permissions, a worker without the batch's filesystem), not
        # the file's. Named by its absolute path: the operator must find where it went.
        raise DecodeError(Reason.WORKER_CANNOT_OPEN,
                          f"cannot open {os.path.abspath(path)}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as fh:
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise DecodeError(Reason.UNREADABLE_FILE, "not a regular file")
            if st.st_size == 0:
                raise DecodeError(Reason.EMPTY_FILE, "0 bytes")
            if st.st_size > limits.max_file_bytes:
                raise DecodeError(Reason.FILE_TOO_LARGE, f"{st.st_size:,} bytes > {limits.max_file_bytes:,}")
            # Never more than the limit, even if the file grows while it is read.
            return fh.read(min(n, limits.max_file_bytes) if n is not None else limits.max_file_bytes)
        except OSError as exc:
            raise DecodeError(Reason.UNREADABLE_FILE, exc.strerror or str(exc)) from exc


def check_file(path: Path, limits: Limits) -> str:
    """Size and format checks before any decoding. Returns the sniffed kind."""
    head = read_regular(path, limits, 2048)
    kind = sniff(head)
    if kind is None:
        raise DecodeError(Reason.UNSUPPORTED_FORMAT, f"content starts with {head[:12]!r}")
    return kind


def _image_sizes(data: bytes, kind: str, limits: Limits) -> list[tuple[int, int]]:
    """Width and height of every page (multi-page TIFF; the first frame of anything else) from the
    headers only (no pixel decoding), each checked against the limits as soon as it is known: a
    bomb refuses the file before anything is decoded, a TIFF of a million pages after 51."""
    import io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's own bomb warning: we apply our limit below
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(io.BytesIO(data)) as im:
                sizes: list[tuple[int, int]] = []
                while True:
                    _check_pixels(im.size, len(sizes), kind, limits)
                    sizes.append(im.size)
                    if kind != "tiff" or not getattr(im, "is_animated", False):
                        return sizes
                    if len(sizes) >= limits.max_pdf_pages:
                        try:
                            im.seek(len(sizes))
                        except EOFError:
                            return sizes
                        raise DecodeError(Reason.TOO_MANY_PAGES,
                                          f"TIFF has more than {limits.max_pdf_pages} pages")
                    try:
                        im.seek(len(sizes))
                    except EOFError:
                        return sizes
        except DecodeError:
            raise
        except Exception as exc:  # Pillow raises many types for broken headers
            raise DecodeError(Reason.CORRUPT_IMAGE, f"unreadable image header ({_one_line(exc)})") from exc


def _check_pixels(size: tuple[int, int], index: int, kind: str, limits: Limits) -> None:
    w, h = size
    if w * h > limits.max_pixels:
        where = f"page {index + 1}: " if index else ""
        raise DecodeError(Reason.TOO_MANY_PIXELS, f"{where}{w}x{h} = {w * h / 1e6:.0f} MP > "
                                                  f"{limits.max_pixels / 1e6:.0f} MP")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _reduce_flag(long_side: int) -> tuple[int, float]:
    if long_side > 4 * _REDUCE_ABOVE_PX:
        return cv2.IMREAD_REDUCED_GRAYSCALE_8, 0.125
    if long_side > 2 * _REDUCE_ABOVE_PX:
        return cv2.IMREAD_REDUCED_GRAYSCALE_4, 0.25
    if long_side > _REDUCE_ABOVE_PX:
        return cv2.IMREAD_REDUCED_GRAYSCALE_2, 0.5
    return cv2.IMREAD_GRAYSCALE, 1.0


def decode_image(data: bytes, kind: str, limits: Limits) -> Iterator[PageImage]:
    # Every page is sized before any is decoded: a bomb on page 2 refuses the file up front.
    with quiet() as said:
        try:
            sizes = _image_sizes(data, kind, limits)
        except DecodeError as exc:
            pending: DecodeError | None = exc
        else:
            pending = None
    if pending is not None:
        raise _with_chatter(pending, said)
    buf = np.frombuffer(data, np.uint8)
    if kind == "tiff":
        for i in range(len(sizes)):  # one page at a time: memory stays at one page
            with quiet() as page_said:
                ok, pages = cv2.imdecodemulti(buf, cv2.IMREAD_GRAYSCALE, range=(i, i + 1))
            said = [*said, *page_said]
            if not ok or not pages or pages[0] is None or pages[0].size == 0:
                raise _with_chatter(DecodeError(Reason.CORRUPT_IMAGE, f"TIFF page {i + 1} could not be decoded"),
                                    said)
            yield PageImage(i, pages[0], 1.0, tuple(page_said))
        return
    w, h = sizes[0]
    flag, scale = _reduce_flag(max(w, h))
    with quiet() as img_said:
        img = cv2.imdecode(buf, flag)
    said = [*said, *img_said]
    if img is None or img.size == 0:
        raise _with_chatter(DecodeError(Reason.CORRUPT_IMAGE,
                                        f"{kind.upper()} could not be decoded (truncated or damaged)"), said)
    if kind == "jpeg" and _jpeg_truncated(data):
        # libjpeg fills a truncated stream with grey and only warns: treat it as damaged.
        raise _with_chatter(DecodeError(Reason.CORRUPT_IMAGE, "JPEG is truncated (no end-of-image marker)"), said)
    yield PageImage(0, img, scale, tuple(said))


def _jpeg_truncated(data: bytes) -> bool:
    return b"\xff\xd9" not in data[-64:]


def pdf_dpi(page_width_pt: float, settings: ReadSettings) -> float:
    """Rasterise so the page is as wide as an A4 page at ``settings.pdf_dpi`` (the plano, 60 cm wide,
    is read at the resolution of its A4-reduced copy)."""
    width_in = max(page_width_pt, 1.0) / 72.0
    return settings.pdf_dpi * A4_WIDTH_IN / width_in


def decode_pdf(path: Path, limits: Limits, settings: ReadSettings) -> Iterator[PageImage]:
    try:
        info = pdf_info(path, timeout=limits.pdftoppm_timeout_s, max_pages=limits.max_pdf_pages)
    except ToolError as exc:
        raise DecodeError(exc.reason, exc.detail) from exc
    if info.pages > limits.max_pdf_pages:
        raise DecodeError(Reason.TOO_MANY_PAGES, f"{info.pages} pages > {limits.max_pdf_pages}")
    # Every page is sized before any is rasterised (pages differ: an A4 page, then a 7 m one), so
    # a bomb anywhere refuses the file at once instead of after a timeout and gigabytes of memory.
    dpis = []
    for page in range(1, info.pages + 1):
        if page > len(info.page_sizes_pt):
            raise DecodeError(Reason.CORRUPT_PDF, f"page {page} has no readable page size")
        w_pt, h_pt = info.page_sizes_pt[page - 1]
        dpi = pdf_dpi(w_pt, settings)
        pixels = (w_pt / 72 * dpi) * (h_pt / 72 * dpi)
        if pixels > limits.max_pixels:
            raise DecodeError(Reason.TOO_MANY_PIXELS, f"page {page} ({w_pt:g} x {h_pt:g} pt) would render to "
                                                      f"{pixels / 1e6:.0f} MP > {limits.max_pixels / 1e6:.0f} MP")
        dpis.append(dpi)
    for page, dpi in enumerate(dpis, start=1):
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
    yield from decode_image(read_regular(path, limits), kind, limits)
