"""Find one printed corner mark near where a rough homography predicts it.

A mark is one or more solid squares (``Mark.cells``; just ``Mark.rect`` when it has none). The
official plano marks are two squares touching at a corner: each square looks like the other, so
a pair is only accepted with the layout's offset between them, which makes the choice
unambiguous even when the prediction is off by more than a square.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from extract.geometry import apply_h, jacobian
from schemas.layout import Mark


@dataclass(frozen=True)
class MarkMatch:
    layout_pts: np.ndarray  # K x 2 cell centres, layout units
    image_pts: np.ndarray  # K x 2 found centres, image pixels


def mark_cells(mark: Mark) -> list[tuple[float, float, float, float]]:
    cells = mark.cells or [mark.rect]
    return [(c.cx, c.cy, c.w, c.h) for c in cells]


def find_mark(gray: np.ndarray, H: np.ndarray, mark: Mark, radius_px: float,
              allow_merged: bool = True) -> MarkMatch | None:
    """Locate ``mark`` in ``gray`` within ``radius_px`` of where ``H`` (layout -> gray) puts it."""
    cands = mark_candidates(gray, H, mark, radius_px, allow_merged)
    return cands[0] if cands else None


def mark_candidates(gray: np.ndarray, H: np.ndarray, mark: Mark, radius_px: float,
                    allow_merged: bool = True, size_factor: float = 1.0) -> list[MarkMatch]:
    """Every blob (group) that looks like ``mark`` within ``radius_px`` of its prediction, nearest first.

    ``allow_merged``: also accept two squares blurred into one blob (its centroid is still the
    mark's centre, the pattern being symmetric about it). ``size_factor``: the mark may be this
    much larger than ``H`` says (perspective the guess does not know).
    """
    cells = mark_cells(mark)
    centres = np.array([(c[0], c[1]) for c in cells])
    centre = centres.mean(axis=0)
    p = apply_h(H, centre)[0]
    J = jacobian(H, float(centre[0]), float(centre[1]))
    scale = float(np.sqrt(abs(np.linalg.det(J))))
    side = scale * size_factor * float(np.mean([(c[2] + c[3]) / 2 for c in cells]))
    J = J * size_factor
    if not np.isfinite(side) or side < 3 or not np.all(np.isfinite(p)):
        return []
    r = radius_px + side * (len(cells) + 1)
    h, w = gray.shape
    x0, y0 = max(0, int(p[0] - r)), max(0, int(p[1] - r))
    x1, y1 = min(w, int(p[0] + r) + 1), min(h, int(p[1] + r) + 1)
    if x1 - x0 < side or y1 - y0 < side:
        return []
    singles, doubles = _dark_squares(gray[y0:y1, x0:x1], side)
    pts = np.array(singles).reshape(-1, 2) + (x0, y0)
    out: list[tuple[float, MarkMatch]] = []
    if len(cells) == 1:
        for q in pts:
            out.append((float(np.hypot(*(q - p))), MarkMatch(centres.copy(), q.reshape(1, 2))))
    else:
        for found in _groups(pts, centres, J):
            out.append((float(np.hypot(*(found.mean(axis=0) - p))), MarkMatch(centres.copy(), found)))
        if allow_merged and len(cells) == 2 and not out:  # a pair of squares is far more specific
            for q in np.array(doubles).reshape(-1, 2) + (x0, y0):
                out.append((float(np.hypot(*(q - p))), MarkMatch(centre.reshape(1, 2), q.reshape(1, 2))))
    out.sort(key=lambda dm: dm[0])
    return [m for d, m in out if d <= r]


def _groups(pts: np.ndarray, centres: np.ndarray, J: np.ndarray) -> list[np.ndarray]:
    """Sets of squares whose offsets from each other are the layout's (mapped through J)."""
    offsets = (centres - centres[0]) @ J.T  # expected image offsets from the first cell
    tol = 0.35 * max(float(np.linalg.norm(offsets[1:], axis=1).min()), 1.0)
    out = []
    for start in pts:
        chosen = [start]
        for off in offsets[1:]:
            d = np.hypot(*(pts - (start + off)).T)
            j = int(np.argmin(d))
            if d[j] > tol:
                break
            chosen.append(pts[j])
        else:
            out.append(np.array(chosen))
    return out


def _dark_squares(crop: np.ndarray, side: float) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Centroids of solid dark blobs about ``side`` px square in ``crop``: (single squares, pairs
    of squares still joined at their corners)."""
    paper = float(np.percentile(crop[::3, ::3], 75))
    otsu, _ = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    # A crop of mostly paper makes Otsu split paper noise; demand real contrast with the paper.
    t = min(otsu, paper - 40)
    if t < 0:
        return [], []
    binary = (crop <= t).astype(np.uint8)  # Otsu's t is the last dark level (0 on a fax)
    # Touching squares meet at a corner: eroding separates them (symmetrically, so the
    # centroid of each stays put).
    k = 0 if side < 6 else max(1, int(round(0.2 * side)))
    if k:
        binary = cv2.erode(binary, np.ones((3, 3), np.uint8), iterations=k)
    eff = max(side - 2 * k, 1.0)
    n, _, stats, cents = cv2.connectedComponentsWithStats(binary, connectivity=4)
    singles, doubles = [], []
    for i in range(1, n):
        bw, bh, area = stats[i, 2], stats[i, 3], stats[i, 4]
        rel = area / (eff * eff)
        big = max(bw, bh) / eff
        if 0.35 <= rel <= 1.7 and big <= 1.7 and min(bw, bh) >= 0.5 * eff and area >= 0.4 * max(bw, bh) ** 2:
            singles.append((float(cents[i, 0]), float(cents[i, 1])))
        elif 1.7 < rel <= 3.5 and 1.3 <= big <= 2.8 and 0.25 * max(bw, bh) ** 2 <= area <= 0.75 * bw * bh:
            doubles.append((float(cents[i, 0]), float(cents[i, 1])))
    return singles, doubles


def square_pairs(gray: np.ndarray, min_side: float, max_side: float) -> np.ndarray:
    """Every corner-mark look-alike in the whole image: (N, 4) centre x, y, size (px) and which
    diagonal holds the squares (+1: top-left to bottom-right as seen in the image, -1: the other).

    A plano mark is two solid squares touching at a corner; thresholded, they are one blob shaped
    like a bow tie: elongated along its diagonal (second moments ~7:1 for two squares, still > 1.4
    when perspective squeezes it), about two thirds of its convex hull, and narrow at the waist
    where the squares meet (whatever the quarter turn or the tilt). Searched anywhere, not only
    near a guess: under strong perspective a guess from the small tag misses the far marks by more
    than a search window. ``min_side``/``max_side``: the blob's bounding-box side range in pixels.
    """
    block = max(15, int(2 * max_side) | 1)
    dark = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 15)
    # Squares meeting at a corner may print (or threshold) a pixel apart: join them.
    dark = cv2.dilate(dark, np.ones((3, 3), np.uint8))
    n, labels, stats, cents = cv2.connectedComponentsWithStats(dark, connectivity=8)
    if n <= 1:
        return np.zeros((0, 4))
    bw, bh, area = stats[1:, 2], stats[1:, 3], stats[1:, 4]
    side = np.maximum(bw, bh)
    fill = area / np.maximum(bw * bh, 1)
    keep = ((side >= min_side) & (side <= max_side) & (area >= 12) & (np.minimum(bw, bh) >= 0.3 * side)
            & (fill >= 0.25) & (fill <= 0.85))
    out = []
    for i in np.nonzero(keep)[0] + 1:
        x, y, w, h = stats[i, :4]
        m = (labels[y:y + h, x:x + w] == i).astype(np.uint8)
        ys, xs = np.nonzero(m)
        c = np.cov(np.vstack([xs, ys]).astype(np.float64))
        ev, vec = np.linalg.eigh(c)
        if ev[0] <= 0 or ev[1] / ev[0] < 1.4:
            continue
        u = vec[:, 1]  # the long axis
        hull = cv2.convexHull(np.column_stack([xs, ys]).astype(np.int32))
        solidity = len(xs) / max(cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1, 1)
        if not 0.45 <= solidity <= 0.9:
            continue
        t = (xs - xs.mean()) * u[0] + (ys - ys.mean()) * u[1]
        half = float(np.abs(t).max())
        if half < 2:
            continue
        waist = np.count_nonzero(np.abs(t) < 0.15 * half)
        lobe = max(np.count_nonzero(np.abs(t - 0.45 * half) < 0.15 * half),
                   np.count_nonzero(np.abs(t + 0.45 * half) < 0.15 * half))
        if waist > 0.9 * lobe:
            continue
        diag = 1.0 if u[0] * u[1] > 0 else -1.0
        # the centre: where the two squares meet (the centroid of a symmetric pattern)
        out.append((float(cents[i, 0]), float(cents[i, 1]), float(np.sqrt(w * h)), diag))
    return np.asarray(out, np.float64).reshape(-1, 4)
