"""Render form pages from their layouts: blank look-alikes, or the official PDF with a typed header.

Pure functions on layouts; the static part of a page (rules, text, marks, tag, bubbles) is
drawn once per (page, scale) and copied, so rendering thousands of pages is cheap. Coordinates
are layout units (PDF points) times ``px_per_unit``; a layout point (x, y) is at continuous
pixel position (x * s, y * s), i.e. pixel index ``x * s - 0.5`` in OpenCV's pixel-centre terms.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from extract._exec.pdftoppm import rasterize_page
from schemas.layout import Circle, Line, PageLayout, PrintedText, Rect

PAPER = 255
INK = 28  # the official PDFs render their black as 28: the look-alike matches
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = {(False, False): "DejaVuSans.ttf", (True, False): "DejaVuSans-Bold.ttf",
               (False, True): "DejaVuSans-Oblique.ttf", (True, True): "DejaVuSans-BoldOblique.ttf"}


# ---------------------------------------------------------------- small helpers others use


def field_box_px(rect: Rect, px_per_unit: float) -> tuple[int, int, int, int]:
    """A layout rect as integer pixel bounds (x0, y0, x1, y1), x1/y1 exclusive."""
    s = px_per_unit
    return (int(round(rect.x * s)), int(round(rect.y * s)), int(round((rect.x + rect.w) * s)),
            int(round((rect.y + rect.h) * s)))


def box_interior_px(rect: Rect, px_per_unit: float, border_frac: float = 0.07) -> tuple[int, int, int, int]:
    """Pixel bounds of a digit box's writable interior (inside its printed border)."""
    m = rect.w * border_frac
    return field_box_px(Rect(x=rect.x + m, y=rect.y + m, w=rect.w - 2 * m, h=rect.h - 2 * m), px_per_unit)


def page_size_px(page: PageLayout, px_per_unit: float) -> tuple[int, int]:
    """(height, width) in pixels of a page rendered at ``px_per_unit``."""
    return int(round(page.height * px_per_unit)), int(round(page.width * px_per_unit))


@lru_cache(maxsize=256)
def font(size_px: float, bold: bool = False, italic: bool = False) -> ImageFont.ImageFont:
    """DejaVu when installed, else Pillow's built-in scalable font (never needs a system font)."""
    size = max(1, int(round(size_px)))
    path = _FONT_DIR / _FONT_FILES[(bold, italic)]
    if path.exists():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


# ---------------------------------------------------------------- drawing primitives


def _fix(v: float) -> int:
    return int(round(v * (1 << _SHIFT)))


def _fill_rect_px(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, value: int) -> None:
    """Fill a rectangle given in continuous pixel coordinates, with exact area coverage at its edges."""
    if x1 - x0 < 0.75:  # keep hairlines visible
        cx = (x0 + x1) / 2
        x0, x1 = cx - 0.375, cx + 0.375
    if y1 - y0 < 0.75:
        cy = (y0 + y1) / 2
        y0, y1 = cy - 0.375, cy + 0.375
    h, w = img.shape
    i0, i1 = max(0, int(np.floor(x0))), min(w, int(np.ceil(x1)))
    j0, j1 = max(0, int(np.floor(y0))), min(h, int(np.ceil(y1)))
    if i1 <= i0 or j1 <= j0:
        return
    xs = np.arange(i0, i1, dtype=np.float32)
    ys = np.arange(j0, j1, dtype=np.float32)
    cx = np.clip(np.minimum(xs + 1, x1) - np.maximum(xs, x0), 0, 1)
    cy = np.clip(np.minimum(ys + 1, y1) - np.maximum(ys, y0), 0, 1)
    cov = cy[:, None] * cx[None, :]
    roi = img[j0:j1, i0:i1].astype(np.float32)
    img[j0:j1, i0:i1] = np.rint(roi * (1 - cov) + np.minimum(roi, value) * cov).astype(np.uint8)


def _draw_line(img: np.ndarray, ln: Line, s: float) -> None:
    value = ln.gray if ln.gray else INK
    t = ln.t * s
    if ln.dotted:  # square dots, pitch ~3.7 dot sizes (as the official write-on lines)
        length = float(np.hypot(ln.x1 - ln.x0, ln.y1 - ln.y0))
        n = max(2, int(round(length / (3.7 * ln.t))) + 1)
        for k in range(n):
            f = k / (n - 1)
            x, y = (ln.x0 + f * (ln.x1 - ln.x0)) * s, (ln.y0 + f * (ln.y1 - ln.y0)) * s
            _fill_rect_px(img, x - t / 2, y - t / 2, x + t / 2, y + t / 2, value)
        return
    if ln.y0 == ln.y1:
        _fill_rect_px(img, ln.x0 * s, ln.y0 * s - t / 2, ln.x1 * s, ln.y0 * s + t / 2, value)
    elif ln.x0 == ln.x1:
        _fill_rect_px(img, ln.x0 * s - t / 2, ln.y0 * s, ln.x0 * s + t / 2, ln.y1 * s, value)
    else:
        cv2.line(img, (_fix(ln.x0 * s - 0.5), _fix(ln.y0 * s - 0.5)), (_fix(ln.x1 * s - 0.5), _fix(ln.y1 * s - 0.5)),
                 int(value), max(1, int(round(t))), cv2.LINE_AA, _SHIFT)


def _draw_tag(img: np.ndarray, tag_id: int, corners: list[tuple[float, float]], s: float) -> None:
    """The AprilTag (36h10) warped exactly onto its layout corners (corner 0 = the tag's own TL)."""
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10)
    side = float(np.hypot(corners[1][0] - corners[0][0], corners[1][1] - corners[0][1])) * s
    cell = max(4, int(np.ceil(side / 8)))  # 8 cells: 6 data + the black border
    n = 8 * cell
    marker = cv2.aruco.generateImageMarker(dictionary, tag_id, n, borderBits=1)
    # continuous coordinates on both sides, then to pixel-centre terms (-0.5) for warpPerspective
    src = np.float32([[0, 0], [n, 0], [n, n], [0, n]]) - 0.5
    dst = np.float32([[x * s, y * s] for x, y in corners]) - 0.5
    m = cv2.getPerspectiveTransform(src, dst)
    h, w = img.shape
    x0, y0 = (int(max(0, np.floor(dst[:, i].min()) - 2)) for i in (0, 1))
    x1, y1 = int(min(w, np.ceil(dst[:, 0].max()) + 3)), int(min(h, np.ceil(dst[:, 1].max()) + 3))
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    flags = cv2.INTER_AREA if cell * 8 > side * 1.5 else cv2.INTER_LINEAR
    warped = cv2.warpPerspective(marker, shift @ m, (x1 - x0, y1 - y0), flags=flags,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=PAPER)
    mask = cv2.warpPerspective(np.full_like(marker, 255), shift @ m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.float32) / 255
    roi = img[y0:y1, x0:x1].astype(np.float32)
    ink = np.where(warped < 128, INK, PAPER).astype(np.float32) if flags == cv2.INTER_LINEAR else \
        INK + (warped.astype(np.float32) / 255) * (PAPER - INK)
    img[y0:y1, x0:x1] = np.clip(roi * (1 - mask) + ink * mask, 0, 255).astype(np.uint8)


def _draw_circle(img: np.ndarray, c: Circle, s: float, stroke: float) -> None:
    r = (c.r - stroke / 2) * s
    cv2.circle(img, (_fix(c.cx * s - 0.5), _fix(c.cy * s - 0.5)), _fix(r), INK, max(1, int(round(stroke * s))),
               cv2.LINE_AA, _SHIFT)


def _seven_segment_guide(img: np.ndarray, box: Rect, s: float) -> None:
    """The faint dotted seven-segment digit printed in the PPWP page-2 boxes."""
    gx0, gx1 = box.x + box.w * 0.30, box.x + box.w * 0.70
    gy0, gy1 = box.y + box.h * 0.15, box.y + box.h * 0.85
    gm = (gy0 + gy1) / 2
    segs = [((gx0, gy0), (gx1, gy0)), ((gx0, gm), (gx1, gm)), ((gx0, gy1), (gx1, gy1)),
            ((gx0, gy0), (gx0, gm)), ((gx1, gy0), (gx1, gm)), ((gx0, gm), (gx0, gy1)), ((gx1, gm), (gx1, gy1))]
    dot = max(box.w * 0.022, 0.6 / s)
    for (ax, ay), (bx, by) in segs:
        n = max(2, int(round(np.hypot(bx - ax, by - ay) / (box.w * 0.055)))) + 1
        for k in range(n):
            f = k / (n - 1)
            x, y = (ax + f * (bx - ax)) * s, (ay + f * (by - ay)) * s
            _fill_rect_px(img, x - dot * s / 2, y - dot * s / 2, x + dot * s / 2, y + dot * s / 2, 200)


def _draw_texts(img: np.ndarray, items: list[tuple[PrintedText, float]]) -> np.ndarray:
    if not items:
        return img
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for t, s in items:
        f = font(t.size * s, t.bold, t.italic)
        anchor = {"left": "la", "center": "ma", "right": "ra"}[t.align]
        draw.text((t.x * s, t.y * s), t.text, fill=int(t.gray or INK), font=f, anchor=anchor)
    return np.asarray(pil).copy()


# ---------------------------------------------------------------- pages


_STATIC: dict[tuple[int, float], tuple[PageLayout, np.ndarray]] = {}


def _static_page(page: PageLayout, px_per_unit: float) -> np.ndarray:
    key = (id(page), round(px_per_unit, 6))
    hit = _STATIC.get(key)
    if hit is not None and hit[0] is page:
        return hit[1]
    s = px_per_unit
    h, w = page_size_px(page, s)
    img = np.full((h, w), PAPER, np.uint8)
    for r in page.fills:
        _fill_rect_px(img, r.x * s, r.y * s, (r.x + r.w) * s, (r.y + r.h) * s, INK)
    for ln in page.lines:
        _draw_line(img, ln, s)
    for m in page.marks:
        for r in m.cells or [m.rect]:
            _fill_rect_px(img, r.x * s, r.y * s, (r.x + r.w) * s, (r.y + r.h) * s, INK)
    texts: list[tuple[PrintedText, float]] = [(t, s) for t in page.printed]
    for f in page.fields:
        if f.guide == "seven_segment":
            for b in f.boxes:
                _seven_segment_guide(img, b, s)
        for col in f.bubbles or []:
            for digit, c in enumerate(col):
                _draw_circle(img, c, s, stroke=max(0.9, c.r * 0.1))
                texts.append((PrintedText(text=str(digit), x=c.cx, y=c.cy - c.r * 0.62, size=c.r * 1.25,
                                          align="center"), s))
    img = _draw_texts(img, texts)
    if page.tag is not None:
        _draw_tag(img, page.tag.id, page.tag.corners, s)
    img.setflags(write=False)
    if len(_STATIC) > 64:
        _STATIC.clear()
    _STATIC[key] = (page, img)
    return img


def type_header(img: np.ndarray, page: PageLayout, px_per_unit: float, header: dict[str, str]) -> np.ndarray:
    """Type header values (printed font) into their header rects, sitting on the write-on line."""
    s = px_per_unit
    items = []
    for hf in page.header:
        value = header.get(hf.id)
        if not value or hf.id == "page_label":  # the page label is printed on the form itself
            continue
        size = hf.rect.h * 0.62
        f = font(size * s)
        width = f.getlength(value) / s
        if width > hf.rect.w * 0.97:  # shrink long names to fit the dotted line
            size *= hf.rect.w * 0.97 / width
        items.append((PrintedText(text=value, x=hf.rect.x + hf.rect.h * 0.1,
                                  y=hf.rect.y + hf.rect.h * 0.82 - size * 1.0, size=size), s))
    return _draw_texts(img, items)


def render_page(page: PageLayout, px_per_unit: float, header: dict[str, str] | None = None) -> np.ndarray:
    """A blank look-alike of ``page`` (grayscale uint8, 255 = paper), header values typed in."""
    img = _static_page(page, px_per_unit).copy()
    return type_header(img, page, px_per_unit, header) if header else img


@lru_cache(maxsize=16)
def _template_page(pdf: str, page_no: int, dpi: float) -> np.ndarray:
    img = rasterize_page(Path(pdf), page_no, dpi)
    img.setflags(write=False)
    return img


def render_template_page(pdf: Path, page: PageLayout, px_per_unit: float,
                         header: dict[str, str] | None = None) -> np.ndarray:
    """The official PDF's page rasterized at this scale, header values typed in."""
    img = _template_page(str(Path(pdf).resolve()), page.page, round(72.0 * px_per_unit, 4))
    h, w = page_size_px(page, px_per_unit)
    out = np.full((h, w), PAPER, np.uint8)  # poppler may round the size by a pixel: pin it to the layout's
    hh, ww = min(h, img.shape[0]), min(w, img.shape[1])
    out[:hh, :ww] = img[:hh, :ww]
    return type_header(out, page, px_per_unit, header) if header else out
