"""Read the bubble columns under the PPWP plano digit boxes: a second, independent reading.

Each digit box has ten bubbles (0..9) under it; the officer blackens the one matching the digit.
A bubble's fill ratio is the share of dark pixels inside its inner disk (the printed ring is
left out; the printed digit inside a clean bubble fills up to about a third of it, measured).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from extract.geometry import PageMap
from schemas.layout import Circle


@dataclass(frozen=True)
class BubbleReading:
    value: int | None  # None: no column marked at all
    confident: bool  # every column has zero or one clearly blackened bubble
    fills: list[list[float]]  # per column, per digit 0..9


def _project(H: np.ndarray | PageMap, pts: np.ndarray) -> np.ndarray:
    if isinstance(H, PageMap):
        return H.to_image(pts)
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)


def bubble_fills(gray: np.ndarray, H: np.ndarray | PageMap, columns: list[list[Circle]],
                 samples: int = 9) -> np.ndarray:
    """Fill ratio per bubble, shape (columns, 10). Samples a small polar grid inside each bubble
    (through the homography, so perspective is respected) instead of warping the page."""
    cs = np.array([[c.cx, c.cy, c.r] for col in columns for c in col], np.float64)
    # Points on a disk of 0.6 r: inside the printed ring, covering the printed digit too.
    g = np.linspace(-0.6, 0.6, samples)
    gx, gy = np.meshgrid(g, g)
    keep = gx**2 + gy**2 <= 0.36 + 1e-9
    offs = np.stack([gx[keep], gy[keep]], axis=1)  # (m, 2) in units of r
    pts = cs[:, None, :2] + offs[None, :, :] * cs[:, None, 2:3]
    img_pts = _project(H, pts.reshape(-1, 2))
    xs = np.clip(np.rint(img_pts[:, 0]).astype(int), 0, gray.shape[1] - 1)
    ys = np.clip(np.rint(img_pts[:, 1]).astype(int), 0, gray.shape[0] - 1)
    vals = gray[ys, xs].reshape(len(cs), -1).astype(np.float32)
    # Local paper level: a robust bright percentile of the page region around the bubbles.
    paper = float(np.percentile(vals, 95)) if vals.size else 255.0
    dark = vals < paper * 0.55
    return dark.mean(axis=1).reshape(len(columns), 10)


def read_bubbles(gray: np.ndarray, H: np.ndarray | PageMap, columns: list[list[Circle]],
                 fill: float = 0.6) -> BubbleReading:
    fills = bubble_fills(gray, H, columns)
    digits: list[int | None] = []
    confident = True
    for col in fills:
        marked = np.flatnonzero(col >= fill)
        if len(marked) == 1:
            digits.append(int(marked[0]))
        elif len(marked) == 0:
            digits.append(None)
        else:
            confident = False
            digits.append(int(np.argmax(col)))
        # A bubble half-filled is a doubt, not a reading. Clean bubbles measure up to ~0.35 (the
        # printed digit inside), blackened ones ~1.0.
        if np.any((col > fill * 0.75) & (col < fill)):
            confident = False
    value: int | None = None
    started = False
    for d in digits:
        if d is None:
            if started:  # a gap after the first marked column: not a well-formed number
                confident = False
            continue
        started = True
        value = (value or 0) * 10 + d
    return BubbleReading(value=value, confident=confident, fills=fills.round(3).tolist())
