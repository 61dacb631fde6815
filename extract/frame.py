"""Tag-less pages (the A4 Salinan): find the printed outer frame, tell the page by its ruled rows.

The frame gives four corners but not which one is the page's top-left: each of the four turns
(and each tag-less page) is a hypothesis, scored by how well the layout's horizontal table
lines (``PageLayout.ruled_rows``) fall on dark pixels once mapped into the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from extract.geometry import apply_h, fit_h
from schemas.layout import PageLayout


def dark_mask(gray: np.ndarray) -> np.ndarray:
    """1 where a pixel is clearly darker than its neighbourhood (ink), else 0; robust to shading."""
    block = max(15, (min(gray.shape) // 40) | 1)
    return cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)


def find_frame(dark: np.ndarray, min_area_frac: float = 0.2) -> np.ndarray | None:
    """Corners (4 x 2, image order TL, TR, BR, BL) of the largest dark quadrilateral outline."""
    # A fax or a faint copy leaves gaps in a one-pixel frame line: bridge them, but only when
    # needed (closing also glues text near the frame onto it).
    for k in (0, 3, 5):
        mask = dark if k == 0 else cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
        quad = _largest_quad(mask, min_area_frac)
        if quad is not None:
            return quad
    return None


def _largest_quad(dark: np.ndarray, min_area_frac: float) -> np.ndarray | None:
    h, w = dark.shape
    # Outer boundaries of every ink component (CCOMP top level), also those inside a hole (a
    # frame inside the dark surroundings of a photographed or scanner-bordered sheet).
    contours, hier = cv2.findContours(dark, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    best: tuple[float, np.ndarray] | None = None
    for i, c in enumerate(contours):
        if len(c) < 40 or hier[0][i][3] != -1:
            continue
        x, y, bw, bh = cv2.boundingRect(c)
        if bw * bh < min_area_frac * w * h:
            continue
        if x <= 0 and y <= 0 and x + bw >= w and y + bh >= h:
            continue  # dark surroundings of a photographed sheet, not a printed frame
        peri = cv2.arcLength(c, True)
        quad = cv2.approxPolyDP(c, 0.02 * peri, True)
        if len(quad) != 4 or not cv2.isContourConvex(quad):
            continue
        area = cv2.contourArea(quad)
        if best is None or area > best[0]:
            best = (area, c)
    if best is None:
        return None
    return _refine_quad(best[1].reshape(-1, 2).astype(np.float64))


def _refine_quad(pts: np.ndarray) -> np.ndarray | None:
    """Fit a straight line to each side of the outline and intersect neighbours (sub-pixel corners)."""
    peri = cv2.arcLength(pts.astype(np.float32).reshape(-1, 1, 2), True)
    quad = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), 0.02 * peri, True).reshape(-1, 2)
    if len(quad) != 4:
        return None
    quad = _order(quad.astype(np.float64))
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        d = b - a
        length = float(np.hypot(*d))
        if length < 10:
            return None
        u = d / length
        rel = pts - a
        t = rel @ u
        dist = np.abs(rel[:, 0] * u[1] - rel[:, 1] * u[0])
        sel = (t > 0.1 * length) & (t < 0.9 * length) & (dist < max(3.0, 0.01 * length))
        if sel.sum() < 5:
            lines.append((a, u))
            continue
        vx, vy, x0, y0 = cv2.fitLine(pts[sel].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
    corners = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        m = np.array([d1, -d2]).T
        if abs(np.linalg.det(m)) < 1e-6:
            return None
        t = np.linalg.solve(m, p2 - p1)
        corners.append(p1 + t[0] * d1)
    return np.array(corners)


def _order(quad: np.ndarray) -> np.ndarray:
    """Clockwise on screen (y down), starting with the corner nearest the image's top-left."""
    c = quad.mean(axis=0)
    ang = np.arctan2(quad[:, 1] - c[1], quad[:, 0] - c[0])
    q = quad[np.argsort(ang)]
    start = int(np.argmin(q.sum(axis=1)))
    return np.roll(q, -start, axis=0)


@dataclass(frozen=True)
class FrameHypothesis:
    page: PageLayout
    turn: int  # which image corner holds the page's top-left (0..3, clockwise)
    H: np.ndarray  # layout -> image (of the dark mask)
    score: float  # dark on the ruled rows minus dark beside them
    row_error: float  # mean |offset| (layout units) of the best-fitting line position per row


_X_SAMPLES = 32
_ON = np.arange(-3.0, 3.01, 0.5)  # layout units around each ruled row
_OFF = np.array([-7.0, 7.0])


def frame_hypotheses(dark: np.ndarray, corners: np.ndarray, pages: list[PageLayout],
                     max_aspect_mismatch: float = 0.25) -> list[FrameHypothesis]:
    """Score every (page, turn); best first."""
    sides = [float(np.hypot(*(corners[(i + 1) % 4] - corners[i]))) for i in range(4)]
    out = []
    for page in pages:
        if page.frame is None or not page.ruled_rows:
            continue
        f = page.frame
        src = np.array(f.corners(), np.float64)
        for turn in range(4):
            # Image side lengths along the page's width and height for this turn.
            img_w = (sides[turn % 4] + sides[(turn + 2) % 4]) / 2
            img_h = (sides[(turn + 1) % 4] + sides[(turn + 3) % 4]) / 2
            if abs(np.log((img_w / img_h) / (f.w / f.h))) > max_aspect_mismatch:
                continue
            H = fit_h(src, np.roll(corners, -turn, axis=0))
            if H is None:
                continue
            score, err = _row_score(dark, H, page)
            out.append(FrameHypothesis(page, turn, H, score, err))
    out.sort(key=lambda hyp: -hyp.score)
    return out


def _row_score(dark: np.ndarray, H: np.ndarray, page: PageLayout) -> tuple[float, float]:
    assert page.frame is not None
    f = page.frame
    xs = np.linspace(f.x + 0.05 * f.w, f.x + 0.95 * f.w, _X_SAMPLES)
    rows = np.asarray(page.ruled_rows, np.float64)
    offs = np.concatenate([_ON, _OFF])
    yy = rows[:, None, None] + offs[None, :, None]  # R x O x 1
    pts = np.stack(np.broadcast_arrays(np.broadcast_to(xs, yy.shape[:2] + (len(xs),)), yy), axis=-1)
    img = apply_h(H, pts.reshape(-1, 2))
    h, w = dark.shape
    ix = np.rint(img[:, 0]).astype(np.int64)
    iy = np.rint(img[:, 1]).astype(np.int64)
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    vals = np.zeros(len(ix), np.float64)
    vals[inside] = dark[iy[inside], ix[inside]]
    dens = vals.reshape(len(rows), len(offs), len(xs)).mean(axis=2)  # R x O
    n_on = len(_ON)
    on = dens[:, :n_on]
    near = np.abs(_ON) <= 1.5
    score = float((on[:, near].max(axis=1) - dens[:, n_on:].mean(axis=1)).mean())
    err = float(np.abs(_ON[np.argmax(on, axis=1)]).mean())
    return score, err


def printed_lines(page: PageLayout, min_length: float = 150.0) -> np.ndarray:
    """Long solid dark rules of the layout as N x 4 (x0, y0, x1, y1): what a check can look for."""
    out = [(ln.x0, ln.y0, ln.x1, ln.y1) for ln in page.lines
           if not ln.dotted and ln.gray < 100 and np.hypot(ln.x1 - ln.x0, ln.y1 - ln.y0) >= min_length]
    return np.asarray(out, np.float64).reshape(-1, 4)


_ALONG = np.linspace(0.05, 0.95, 16)
_LINE_ON = np.array([-1.5, -0.75, 0.0, 0.75, 1.5])
_LINE_OFF = np.array([-6.0, 6.0])


def line_score(dark: np.ndarray, H: np.ndarray, lines: np.ndarray) -> float:
    """How well ``H`` (layout -> ``dark``) lays the printed rules on ink: mean over the rules of
    (ink on the rule) - (ink beside it). About 0 for a wrong mapping, 0.5-0.9 for a right one."""
    if not len(lines):
        return 0.0
    p0, p1 = lines[:, :2], lines[:, 2:]
    d = p1 - p0
    n = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.hypot(d[:, 0], d[:, 1])[:, None]
    offs = np.concatenate([_LINE_ON, _LINE_OFF])
    pts = (p0[:, None, None, :] + _ALONG[None, None, :, None] * d[:, None, None, :]
           + offs[None, :, None, None] * n[:, None, None, :])  # L x O x S x 2
    with np.errstate(all="ignore"):
        img = apply_h(H, pts.reshape(-1, 2))
    h, w = dark.shape
    ok = np.all(np.isfinite(img), axis=1)
    ix = np.where(ok, np.rint(img[:, 0]), -1).astype(np.int64)
    iy = np.where(ok, np.rint(img[:, 1]), -1).astype(np.int64)
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    vals = np.zeros(len(ix), np.float64)
    vals[inside] = dark[iy[inside], ix[inside]]
    vals = vals.reshape(len(lines), len(offs), len(_ALONG))
    on = vals[:, : len(_LINE_ON)].max(axis=1).mean(axis=1)
    off = vals[:, len(_LINE_ON):].mean(axis=(1, 2))
    return float((on - off).mean())
