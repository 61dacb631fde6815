"""Cut a field's crop out of a source scan, for the stewards' review page.

The page is decoded again exactly as the reader decoded it (``extract.decode.decode_file`` with
default limits and settings), so the release's homography (layout units -> pixels of the decoded
page) applies. The crop is the field's digit boxes (and its bubbles, where the layout has them)
with a small margin, rectified to an upright strip. Areas the layout marks ``private`` (names,
signatures) are never cropped: a crop that would touch one is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from extract.decode import PageImage, decode_file
from extract.geometry import PageMap, as_map
from schemas.layout import Field_, PageLayout, Rect
from schemas.settings import Limits, ReadSettings

MapLike = np.ndarray | list[list[float]] | PageMap | object  # a homography, a map or a Registration
CROP_HEIGHT = 72  # output pixels for the digit boxes' height


def field_rect(f: Field_, margin: float = 0.25, with_bubbles: bool = True) -> Rect:
    """The field's boxes (and bubbles) bounding rect, grown by ``margin`` x the box height."""
    xs, ys = [], []
    for b in f.boxes:
        xs += [b.x, b.x + b.w]
        ys += [b.y, b.y + b.h]
    if with_bubbles and f.bubbles:
        for col in f.bubbles:
            for c in col:
                xs += [c.cx - c.r, c.cx + c.r]
                ys += [c.cy - c.r, c.cy + c.r]
    m = margin * max(b.h for b in f.boxes)
    return Rect(x=min(xs) - m, y=min(ys) - m, w=max(xs) - min(xs) + 2 * m, h=max(ys) - min(ys) + 2 * m)


def bubbles_rect(f: Field_, margin: float = 0.2) -> Rect | None:
    """The bounding rect of the field's bubble columns (None when it has none)."""
    if not f.bubbles:
        return None
    cs = [c for col in f.bubbles for c in col]
    m = margin * max(c.r for c in cs) * 2
    x0, y0 = min(c.cx - c.r for c in cs) - m, min(c.cy - c.r for c in cs) - m
    x1, y1 = max(c.cx + c.r for c in cs) + m, max(c.cy + c.r for c in cs) + m
    return Rect(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def _overlaps(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def safe_rect(f: Field_, page: PageLayout, margin: float = 0.25, with_bubbles: bool = True) -> Rect | None:
    """The crop rect of ``f``, shrunk (margin, then bubbles dropped) until it avoids every private
    area; None when even the bare boxes touch one."""
    tries = ((margin, True), (0.0, True), (margin, False), (0.0, False))
    for m, bubbles in (t for t in tries if with_bubbles or not t[1]):
        r = field_rect(f, m, bubbles)
        if not any(_overlaps(r, p) for p in page.private):
            return r
    return None


def cut(gray: np.ndarray, H: MapLike, rect: Rect, box_height: float,
        out_box_px: int = CROP_HEIGHT) -> np.ndarray:
    """Rectify layout ``rect`` of the page image: ``out_box_px`` pixels per box height. ``H``: a
    homography, a ``PageMap`` or a ``Registration`` (its page map: crops centred on the boxes found)."""
    s = out_box_px / box_height  # output pixels per layout unit
    w, h = max(1, round(rect.w * s)), max(1, round(rect.h * s))
    # Output pixel (u, v) -> layout (x0 + (u + .5) / s, y0 + (v + .5) / s) -> image via H.
    T = np.array([[1 / s, 0, rect.x + 0.5 / s], [0, 1 / s, rect.y + 0.5 / s], [0, 0, 1]], np.float64)
    pmap = as_map(H)
    Hr = pmap.H if pmap.is_plain else pmap.local_h(rect.x, rect.y, rect.x + rect.w, rect.y + rect.h)
    M = Hr @ T
    return cv2.warpPerspective(gray, M, (w, h), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def field_crops(gray: np.ndarray, H: MapLike, page: PageLayout,
                field_ids: Iterable[str], margin: float = 0.25, bubbles: bool = False) -> dict[str, np.ndarray]:
    """Crops of ``field_ids`` (those on ``page`` and clear of private areas) from one decoded page:
    the digit boxes, ``out_box_px`` high; with ``bubbles`` the bubble columns too, under
    ``"<field_id>#bubbles"`` (the boxes stay large instead of one tall strip)."""
    wanted = set(field_ids)
    H = as_map(H)
    out = {}
    for f in page.fields:
        if f.id not in wanted:
            continue
        box_h = max(b.h for b in f.boxes)
        rect = safe_rect(f, page, margin, with_bubbles=False)
        if rect is not None:
            out[f.id] = cut(gray, H, rect, box_h)
        brect = bubbles_rect(f) if bubbles else None
        if brect is not None and not any(_overlaps(brect, p) for p in page.private):
            out[f"{f.id}#bubbles"] = cut(gray, H, brect, box_h, out_box_px=CROP_HEIGHT // 2)
    return out


def decoded_page(path: Path, page_index: int, limits: Limits | None = None,
                 settings: ReadSettings | None = None) -> PageImage | None:
    """Page ``page_index`` of ``path``, decoded as the reader decoded it (None if absent)."""
    for img in decode_file(Path(path), limits or Limits(), settings or ReadSettings()):
        if img.index == page_index:
            return img
    return None


def png_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()
