"""Read the typed TPS number of a page header with the digit reader (no Tesseract).

The header's TPS number is a cross-check of the file's identity (``transform.validate``). Two
Tesseract reads agreeing confirmed it on only 12% of generated 200-dpi scan pages and 10% of
photos: typed text 20 px tall loses too much to scanning. The digit reader, trained on
handwritten *and* font digits, reads the same glyphs once each is set in a box like the ones it
reads every day: on 450 scan pages its confident reading and Tesseract's digits-only read agreed
on 132 (29%), never on a wrong number (``extract.header.read_headers`` takes a number only when
two independent reads agree).
"""

from __future__ import annotations

import cv2
import numpy as np

from extract.digits import CROP_SIZE, DigitReader, symbol_probs
from extract.geometry import PageMap
from extract.header import ink_mask
from schemas.layout import Rect
from schemas.records import CROSS_CHECK_MIN_P

PX_PER_UNIT = 4.0  # header rect resampled at 4 px per point: a typed digit ~40 px tall
PAD = 2.0  # points around the rect: typed text may touch its edges
MAX_GLYPHS = 3  # a TPS number has 1-3 digits; more marks is not a typed number
# How a box of the layout looks at the reader's crop size: its border (ink ~60, 2 px) and paper
# (~235), the digit about 20 px tall in the middle.
BOX_INK, BOX_PAPER, BOX_BORDER, GLYPH_HEIGHT = 60, 235, 2, 20


def _rectified(gray: np.ndarray, H: np.ndarray | PageMap, rect: Rect) -> np.ndarray:
    """The rect (plus PAD) resampled upright at PX_PER_UNIT; outside the image is paper."""
    w = int(round((rect.w + 2 * PAD) * PX_PER_UNIT))
    h = int(round((rect.h + 2 * PAD) * PX_PER_UNIT))
    to_layout = np.array([[1 / PX_PER_UNIT, 0, rect.x - PAD], [0, 1 / PX_PER_UNIT, rect.y - PAD], [0, 0, 1]])
    if isinstance(H, PageMap):  # a bent sheet: the map as the rect sees it
        H = H.local_h(rect.x - PAD, rect.y - PAD, rect.x + rect.w + PAD, rect.y + rect.h + PAD)
    M = np.asarray(H, np.float64) @ to_layout  # output pixel -> image pixel
    return cv2.warpPerspective(gray, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=255)


def glyphs(crop: np.ndarray) -> list[np.ndarray]:
    """The typed characters of an upright crop, left to right (grey sub-images). Dots of the
    write-on line and specks are left out; pieces of one broken glyph (overlapping in x) are one."""
    ink = ink_mask(crop)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    h = crop.shape[0]
    tall = [i for i in range(1, n) if 0.3 * h <= stats[i, cv2.CC_STAT_HEIGHT] < 0.95 * h]
    groups: list[list[int]] = []  # [x0, x1, label...]
    for i in sorted(tall, key=lambda i: stats[i, cv2.CC_STAT_LEFT]):
        x0 = int(stats[i, cv2.CC_STAT_LEFT])
        x1 = x0 + int(stats[i, cv2.CC_STAT_WIDTH])
        if groups and x0 < groups[-1][1] - 2:
            groups[-1][1] = max(groups[-1][1], x1)
            groups[-1].append(i)
        else:
            groups.append([x0, x1, i])
    out = []
    for x0, x1, *ids in groups:
        ys = np.where(np.isin(labels[:, x0:x1], ids))[0]
        out.append(crop[ys.min(): ys.max() + 1, x0:x1])
    return out


def as_box(glyph: np.ndarray) -> np.ndarray:
    """A glyph set in a CROP_SIZE box drawn like the layout's digit boxes."""
    h, w = glyph.shape
    scale = GLYPH_HEIGHT / h
    g = cv2.resize(glyph, (max(1, int(round(w * scale))), GLYPH_HEIGHT), interpolation=cv2.INTER_AREA)
    inner = CROP_SIZE - 2 * BOX_BORDER - 2
    g = g[:, :inner]
    box = np.full((CROP_SIZE, CROP_SIZE), BOX_PAPER, np.uint8)
    b = BOX_BORDER
    box[:b], box[-b:], box[:, :b], box[:, -b:] = BOX_INK, BOX_INK, BOX_INK, BOX_INK
    y, x = (CROP_SIZE - g.shape[0]) // 2, (CROP_SIZE - g.shape[1]) // 2
    box[y: y + g.shape[0], x: x + g.shape[1]] = np.minimum(box[y: y + g.shape[0], x: x + g.shape[1]], g)
    return box


def number_boxes(gray: np.ndarray, H: np.ndarray | PageMap, rect: Rect) -> np.ndarray:
    """(n, CROP_SIZE, CROP_SIZE) one box per typed glyph in ``rect``; none when there are more
    glyphs than a TPS number has (a name, handwriting, noise)."""
    gs = glyphs(_rectified(gray, H, rect))
    if not 1 <= len(gs) <= MAX_GLYPHS:
        return np.zeros((0, CROP_SIZE, CROP_SIZE), np.uint8)
    return np.stack([as_box(g) for g in gs])


def read_typed_number(reader: DigitReader, boxes: np.ndarray) -> str | None:
    """The digits, when every glyph is a digit read at ``CROSS_CHECK_MIN_P`` or more (a vote needs
    another read to agree; ``schemas.records.CROSS_CHECK_MIN_P`` says why this is not the reader's
    acceptance threshold)."""
    if len(boxes) == 0:
        return None
    sp = symbol_probs(reader.predict(boxes))
    top = sp.argmax(1)
    if (top >= 10).any() or sp.max(1).min() < CROSS_CHECK_MIN_P:
        return None
    return "".join(str(int(d)) for d in top)
