"""Measure an official form template: where its digit boxes, tag, marks and rules are.

Every coordinate is *measured* on a poppler rendering of a PDF page and given in PDF points
(origin top-left, y down: the conventions of ``schemas/layouts/*.json``). Digit boxes are either
printed squares with a thick border (outer contours; a large-format form) or ruled table cells (white
regions between thin rules; an A4 copy); bubbles are circular contours, table rules long
runs of dark pixels, corner marks solid blobs near the corners, the AprilTag is found with
cv2.aruco. Nothing here knows a form type: ``measure_page`` names fields by position
(``row03_group1``) for a person to name, and ``scripts/build_layouts.py`` builds the packaged
layouts on these same primitives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from extract._exec.errors import ToolError
from extract._exec.pdftoppm import pdf_info, rasterize_page
from schemas.layout import Field_, Line, Mark, Rect, Tag
from schemas.settings import Settings

# ---------------------------------------------------------------- measuring primitives


def r2(v: float) -> float:
    """Round to 0.01 pt: the layouts' precision."""
    return round(float(v), 2)


def rect(x: float, y: float, w: float, h: float) -> dict:
    """A layout ``Rect`` as JSON-ready dict, rounded to 0.01 pt."""
    return {"x": r2(x), "y": r2(y), "w": r2(w), "h": r2(h)}


# ---------------------------------------------------------------- measuring primitives


def dark(img: np.ndarray, thr: int = 160) -> np.ndarray:
    """Ink mask (1 where darker than ``thr``)."""
    return (img < thr).astype(np.uint8)


def square_boxes(img: np.ndarray, s: float, min_pt: float, max_pt: float,
                 window: tuple[float, float, float, float] | None = None) -> list[tuple[float, ...]]:
    """Outer borders of printed square boxes (x, y, w, h in points), de-duplicated.

    A box's stroke gives two contours (outer and inner); only the outermost is kept.
    """
    cnts, _ = cv2.findContours(dark(img), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    found = []
    for c in cnts:
        x, y, w, h = cv2.boundingRect(c)
        wp, hp = w / s, h / s
        if not (min_pt <= wp <= max_pt and min_pt <= hp <= max_pt and 0.85 < wp / hp < 1.18):
            continue
        if cv2.contourArea(c) < 0.85 * w * h:
            continue
        r = (x / s, y / s, wp, hp)
        if window and not (window[0] <= r[0] and r[0] + r[2] <= window[2]
                           and window[1] <= r[1] and r[1] + r[3] <= window[3]):
            continue
        found.append(r)
    found.sort(key=lambda r: -r[2])
    out: list[tuple[float, ...]] = []
    for r in found:  # drop contours lying inside an already kept (larger) box
        if any(o[0] - 1 <= r[0] and r[0] + r[2] <= o[0] + o[2] + 1 and o[1] - 1 <= r[1]
               and r[1] + r[3] <= o[1] + o[3] + 1 for o in out):
            continue
        out.append(r)
    return sorted(out, key=lambda r: (round(r[1] / 10), r[0]))


def group_rows(rects: list, tol: float = 8.0) -> list[list]:
    """Rects (x, y, w, h) in rows: a row takes rects whose top is within ``tol`` of its first."""
    rows: list[list] = []
    for r in sorted(rects, key=lambda r: r[1]):
        if rows and abs(rows[-1][0][1] - r[1]) < tol:
            rows[-1].append(r)
        else:
            rows.append([r])
    return [sorted(row, key=lambda r: r[0]) for row in rows]


def circles(img: np.ndarray, s: float, min_d: float, max_d: float,
            window: tuple[float, float, float, float]) -> list[tuple[float, float, float]]:
    """Printed circles (cx, cy, r in points; r of the outer edge of the stroke)."""
    cnts, _ = cv2.findContours(dark(img), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    out = []
    for c in cnts:
        x, y, w, h = cv2.boundingRect(c)
        d = (w + h) / 2 / s
        if not (min_d <= d <= max_d and 0.9 < w / h < 1.1):
            continue
        area, per = cv2.contourArea(c), cv2.arcLength(c, True)
        if per == 0 or 4 * np.pi * area / per**2 < 0.8:
            continue
        cx, cy = (x + w / 2) / s, (y + h / 2) / s
        if not (window[0] <= cx <= window[2] and window[1] <= cy <= window[3]):
            continue
        out.append((cx, cy, d / 2))
    out.sort(key=lambda c: -c[2])
    kept: list[tuple[float, float, float]] = []
    for c in out:
        if any(abs(c[0] - k[0]) < k[2] and abs(c[1] - k[1]) < k[2] for k in kept):
            continue
        kept.append(c)
    return kept


def marks(img: np.ndarray, s: float) -> list[dict]:
    """Corner registration marks: solid blobs near a page corner, over 1.2% of the page's short
    side across (20 pt on a plano sheet, 8 pt at least; some forms print each as two solid
    squares touching at a corner), in tl, tr, br, bl order."""
    hgt, wid = img.shape
    min_pt = max(8.0, 0.012 * min(hgt, wid) / s)
    n, _, st, _ = cv2.connectedComponentsWithStats(dark(img, 128), connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, a = st[i]
        cx, cy = (x + w / 2) / wid, (y + h / 2) / hgt
        if not (w / s > min_pt and h / s > min_pt and a > 0.4 * w * h) or 0.12 < cx < 0.88 or 0.12 < cy < 0.88:
            continue
        corner = ("t" if cy < 0.5 else "b") + ("l" if cx < 0.5 else "r")
        out.append({"corner": corner, "rect": rect(x / s, y / s, w / s, h / s)})
    order = {"tl": 0, "tr": 1, "br": 2, "bl": 3}
    out.sort(key=lambda m: order[m["corner"]])
    return out


def apriltag(img: np.ndarray, s: float) -> tuple[int, list[list[float]]] | None:
    """The page's one AprilTag (36h10): id and corners in points, in the detector's order; None
    when there is none (or more than one: which would name the page is then unclear)."""
    det = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10))
    corners, ids, _ = det.detectMarkers(img)
    if ids is None or len(ids) != 1:
        return None
    # cv2 reports pixel-centre coordinates; +0.5 turns them into continuous (edge) coordinates.
    pts = [[r2((cx + 0.5) / s), r2((cy + 0.5) / s)] for cx, cy in corners[0][0]]
    return int(np.ravel(ids)[0]), pts


def h_lines(img: np.ndarray, s: float, min_len_pt: float, thr: int = 128) -> list[dict]:
    """Horizontal rules: (y centre, x0, x1, thickness) in points, merged per line."""
    b = dark(img, thr)
    k = max(3, int(min_len_pt * s))
    m = cv2.morphologyEx(b, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1)))
    n, _, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, _ = st[i]
        if h / s > 6:  # a solid block, not a rule
            continue
        gray = int(np.median(img[y:y + h, x:x + w]))
        out.append({"y": (y + h / 2) / s, "x0": x / s, "x1": (x + w) / s, "t": h / s, "gray": gray})
    return sorted(out, key=lambda d: (d["y"], d["x0"]))


def v_lines(img: np.ndarray, s: float, min_len_pt: float, thr: int = 128) -> list[dict]:
    """Vertical rules: (x centre, y0, y1, thickness) in points, merged per line."""
    b = dark(img, thr)
    k = max(3, int(min_len_pt * s))
    m = cv2.morphologyEx(b, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, k)))
    n, _, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, _ = st[i]
        if w / s > 6:
            continue
        gray = int(np.median(img[y:y + h, x:x + w]))
        out.append({"x": (x + w / 2) / s, "y0": y / s, "y1": (y + h) / s, "t": w / s, "gray": gray})
    return sorted(out, key=lambda d: (d["x"], d["y0"]))


def dotted_lines(img: np.ndarray, s: float, window: tuple[float, float, float, float],
                 min_len_pt: float = 20, max_gap_pt: float = 12) -> list[tuple[float, float, float]]:
    """Dotted write-on lines inside ``window``: (x0, x1, y) in points."""
    x0, y0, x1, y1 = (int(v * s) for v in window)
    sub = dark(img[y0:y1, x0:x1])
    n, _, st, cen = cv2.connectedComponentsWithStats(sub, connectivity=8)
    dots = [(cen[i][0], cen[i][1]) for i in range(1, n)
            if st[i][2] / s <= 3.2 and st[i][3] / s <= 3.2 and st[i][4] >= 1]
    dots.sort(key=lambda d: (round(d[1] / (2 * s)), d[0]))
    rows: list[list] = []
    for d in sorted(dots, key=lambda d: d[1]):
        for row in rows:
            if abs(row[0][1] - d[1]) < 1.5 * s:
                row.append(d)
                break
        else:
            rows.append([d])
    out = []
    for row in rows:
        row.sort()
        seg = [row[0]]
        for d in row[1:] + [None]:
            if d is not None and d[0] - seg[-1][0] < max_gap_pt * s:
                seg.append(d)
                continue
            for part in _split_at_wide_gaps(seg):
                if len(part) >= 6 and (part[-1][0] - part[0][0]) / s >= min_len_pt:
                    ys = np.mean([p[1] for p in part])
                    out.append(((part[0][0] + x0) / s, (part[-1][0] + x0) / s, (ys + y0) / s))
            if d is not None:
                seg = [d]
    return sorted(out, key=lambda t: (round(t[2]), t[0]))


def _split_at_wide_gaps(seg: list) -> list[list]:
    """Split a run of dots where the spacing jumps (e.g. at the "(" of "Nomor TPS : .... (....)")."""
    if len(seg) < 3:
        return [seg]
    gaps = np.diff([p[0] for p in seg])
    med = float(np.median(gaps))
    parts, cur = [], [seg[0]]
    for p, g in zip(seg[1:], gaps, strict=True):
        if g > 1.7 * med:
            parts.append(cur)
            cur = []
        cur.append(p)
    return parts + [cur]


def ink_bbox(img: np.ndarray, s: float, window: tuple[float, float, float, float]) -> dict:
    """Bounding rect (points) of the ink inside ``window``."""
    x0, y0, x1, y1 = (int(v * s) for v in window)
    ys, xs = np.nonzero(dark(img[y0:y1, x0:x1]))
    return rect((xs.min() + x0) / s, (ys.min() + y0) / s, (xs.max() - xs.min() + 1) / s,
                (ys.max() - ys.min() + 1) / s)


def white_cells(img: np.ndarray, s: float, min_pt: float, max_pt: float,
                window: tuple[float, float, float, float]) -> list[tuple[float, ...]]:
    """Ruled table cells (x, y, w, h in points, borders at the rules' centres)."""
    x0, y0, x1, y1 = (int(v * s) for v in window)
    white = 1 - dark(img[y0:y1, x0:x1], 128)
    n, _, st, _ = cv2.connectedComponentsWithStats(white, connectivity=4)
    out = []
    for i in range(1, n):
        x, y, w, h, a = st[i]
        wp, hp = w / s, h / s
        if min_pt <= wp <= max_pt and min_pt <= hp <= max_pt and a > 0.9 * w * h:
            half = 0.4  # half a rule's thickness: the rect runs to the rules' centres
            out.append(((x + x0) / s - half, (y + y0) / s - half, wp + 2 * half, hp + 2 * half))
    return sorted(out, key=lambda r: (round(r[1]), r[0]))



def dotted_as_lines(dots: list[tuple], t: float) -> list[dict]:
    """Dotted write-on lines as layout ``lines`` (rendering)."""
    return [{"x0": r2(x0), "y0": r2(y), "x1": r2(x1), "y1": r2(y), "t": t, "dotted": True}
            for x0, x1, y in dots]


def rules_as_lines(img: np.ndarray, s: float, min_len: float, thr: int = 230) -> list[dict]:
    """Every horizontal and vertical rule as layout ``lines`` (rendering); light rules keep their gray."""
    out = []
    for d in h_lines(img, s, min_len, thr):
        out.append({"x0": r2(d["x0"]), "y0": r2(d["y"]), "x1": r2(d["x1"]), "y1": r2(d["y"]),
                    "t": r2(d["t"]), "gray": min(d["gray"], 255) if d["gray"] > 120 else 0})
    for d in v_lines(img, s, min_len, thr):
        out.append({"x0": r2(d["x"]), "y0": r2(d["y0"]), "x1": r2(d["x"]), "y1": r2(d["y1"]),
                    "t": r2(d["t"]), "gray": min(d["gray"], 255) if d["gray"] > 120 else 0})
    return out


def mark_cells(img: np.ndarray, s: float, m: dict) -> list[dict]:
    """The solid squares a mark is printed as (e.g. two touching at a corner)."""
    r = m["rect"]
    x0, y0 = int(r["x"] * s) - 2, int(r["y"] * s) - 2
    sub = dark(img[y0:y0 + int(r["h"] * s) + 4, x0:x0 + int(r["w"] * s) + 4], 128)
    sub = cv2.morphologyEx(sub, cv2.MORPH_ERODE, np.ones((3, 3), np.uint8))  # split at the touching corner
    n, _, st, _ = cv2.connectedComponentsWithStats(sub, connectivity=4)
    cells = [st[i] for i in range(1, n) if st[i][4] > 20]
    # the erosion took one pixel off each side: add it back
    return [rect((x + x0 - 1) / s, (y + y0 - 1) / s, (w + 2) / s, (h + 2) / s) for x, y, w, h, _ in cells]


def bubble_columns(img: np.ndarray, s: float, boxes: list[tuple], y_to: float) -> list[list[dict]]:
    """Ten bubbles (digits 0..9, top to bottom) under each digit box."""
    bx0 = min(b[0] for b in boxes) - 10
    bx1 = max(b[0] + b[2] for b in boxes) + 10
    y0 = max(b[1] + b[3] for b in boxes)
    found = circles(img, s, 12, 30, (bx0, y0, bx1, y_to))
    cols = []
    for b in boxes:
        col = sorted((c for c in found if abs(c[0] - (b[0] + b[2] / 2)) < b[2] / 2), key=lambda c: c[1])
        if len(col) != 10:
            raise ValueError(f"box at {b}: {len(col)} bubbles under it, 10 expected")
        cols.append([{"cx": r2(cx), "cy": r2(cy), "r": r2(rad)} for cx, cy, rad in col])
    return cols


def table_frame(img: np.ndarray, s: float) -> tuple[dict, list[float]] | None:
    """The main table's outer frame (outer edge of its border) and the y of the horizontal rules
    inside it that span over half its width: what registers a page that prints no tag or marks.

    The frame's sides are the outermost vertical rules over 300 pt; its top and bottom the
    outermost horizontal rules spanning 90% of the width between them.
    """
    hl = h_lines(img, s, 60)
    vl = v_lines(img, s, 300)
    if len(vl) < 2:
        return None
    left, right = vl[0], vl[-1]
    span = right["x"] - left["x"]
    full = [d for d in hl if d["x1"] - d["x0"] > 0.9 * span]
    if span <= 0 or len(full) < 2:
        return None
    inside = [d for d in hl if left["x"] < d["x0"] + 5 and d["x1"] - 5 < right["x"]]
    top, bot = min(full, key=lambda d: d["y"]), max(full, key=lambda d: d["y"])
    frame = rect(left["x"] - left["t"] / 2, top["y"] - top["t"] / 2,
                 right["x"] + right["t"] / 2 - (left["x"] - left["t"] / 2),
                 bot["y"] + bot["t"] / 2 - (top["y"] - top["t"] / 2))
    ruled = [r2(d["y"]) for d in inside
             if top["y"] + 2 < d["y"] < bot["y"] - 2 and d["x1"] - d["x0"] > 0.5 * frame["w"]]
    return frame, ruled


# ---------------------------------------------------------------- digit boxes of any template

Box = tuple[float, float, float, float]  # x, y, w, h in points

BOX_MIN_PT, BOX_MAX_PT = 10.0, 80.0  # a handwritten digit's box on any paper size
PRINTED_BORDER_PT = 1.2  # a printed box's border is at least this thick; a table rule is thinner


def _inside(a: Box, b: Box, tol: float) -> bool:
    """a lies within b grown by ``tol`` on every side."""
    return (b[0] - tol <= a[0] and a[0] + a[2] <= b[0] + b[2] + tol
            and b[1] - tol <= a[1] and a[1] + a[3] <= b[1] + b[3] + tol)


def digit_box_candidates(img: np.ndarray, s: float) -> list[Box]:
    """Every box a digit could be written in: printed squares and ruled cells, each once.

    A printed square (thick border) shows as an outer contour with a white cell inset by its
    border; that cell is its inside, not another box. A table cell shows as a white cell and as
    the hole of the grid's contour at the same place (inset under ``PRINTED_BORDER_PT``): it is
    kept as the cell, whose edges run to the rules' centres (the layouts' convention).
    """
    page = (0.0, 0.0, img.shape[1] / s, img.shape[0] / s)
    squares = square_boxes(img, s, BOX_MIN_PT, BOX_MAX_PT)
    cells = white_cells(img, s, BOX_MIN_PT, BOX_MAX_PT, page)
    out: list[Box] = []
    used: set[int] = set()
    for q in squares:
        inner = [i for i, c in enumerate(cells) if _inside(c, q, 0.6)]
        if not inner:
            out.append(q)
            continue
        i = max(inner, key=lambda i: cells[i][2] * cells[i][3])
        c = cells[i]
        inset = min(c[0] - q[0], c[1] - q[1], q[0] + q[2] - c[0] - c[2], q[1] + q[3] - c[1] - c[3])
        used.add(i)
        # + 0.4: white_cells grows a cell by half a thin rule; a printed border's inset is measured from the ink
        out.append(q if inset + 0.4 >= PRINTED_BORDER_PT else c)
    out += [c for i, c in enumerate(cells) if i not in used]
    return [tuple(float(v) for v in b) for b in out]  # type: ignore[misc]


def box_runs(boxes: list[Box], exclude: Sequence[Box] = ()) -> list[list[Box]]:
    """Boxes that come in a run: two or more of a size side by side on one row.

    A digit box is never alone (a number has several digits) and is not wider than tall by much;
    this drops logos, tag modules, letter counters, wide table cells (tally grids, signatures).
    ``exclude``: areas whose insides are not boxes (the tag, the marks).
    """
    cand = [b for b in boxes if 0.3 <= b[2] / b[3] <= 1.25 and not any(_inside(b, e, 1.0) for e in exclude)]
    cand.sort(key=lambda b: (b[1], b[0]))
    rows: list[list[Box]] = []
    for b in cand:  # same row: tops within 2 pt and heights within 10%
        for row in rows:
            if abs(row[0][1] - b[1]) <= 2.0 and abs(row[0][3] - b[3]) <= 0.1 * row[0][3]:
                row.append(b)
                break
        else:
            rows.append([b])
    runs: list[list[Box]] = []
    for row in rows:
        row.sort(key=lambda b: b[0])
        cur = [row[0]]
        for b in row[1:]:
            a = cur[-1]
            gap = b[0] - (a[0] + a[2])
            if abs(b[2] - a[2]) <= 0.15 * a[2] and -1.5 <= gap <= 0.6 * a[2]:
                cur.append(b)
                continue
            runs.append(cur)
            cur = [b]
        runs.append(cur)
    return sorted((r for r in runs if len(r) >= 2), key=lambda r: (r[0][1], r[0][0]))


def _header_cuts(img: np.ndarray, s: float, row: list[Box], look_pt: float = 200.0) -> list[bool] | None:
    """Which rules between side-by-side cells separate numbers, read off the table above.

    Digit cells share rules, so a row shows no gap between numbers. The column headings above
    do: going up from the row, the first band where both outer edges carry a vertical rule
    (6 pt at least) but only some of the inner ones is a heading row, and its rules are where
    the numbers part. Rows of digit cells above (all rules) and full-width rows (none) are
    passed over."""
    xs = [row[0][0]] + [(a[0] + a[2] + b[0]) / 2 for a, b in zip(row, row[1:], strict=False)]
    xs.append(row[-1][0] + row[-1][2])
    top = int(min(b[1] for b in row) * s)
    y0 = max(0, top - int(look_pt * s))
    ink = dark(img[y0:top], 160)
    cols = np.stack([ink[:, max(0, int(x * s) - 1):int(x * s) + 2].max(axis=1) for x in xs], axis=1)
    k = max(3, int(6 * s))
    runs = cv2.morphologyEx(cols, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, k)))
    for y in range(runs.shape[0] - int(1.5 * s), -1, -1):  # upwards, from just above the row's top rule
        r = runs[y]
        if r[0] and r[-1] and r[1:-1].any() and not r[1:-1].all():
            return [bool(v) for v in r[1:-1]]
    return None


def split_fields(img: np.ndarray, s: float, row: list[Box]) -> list[list[Box]]:
    """A row of boxes split into numbers: at a gap clearly wider than the row's usual one, or (for
    cells that share rules) where the column headings above part them."""
    if len(row) < 2:
        return [row]
    gaps = [b[0] - (a[0] + a[2]) for a, b in zip(row, row[1:], strict=False)]
    med = float(np.median(gaps))
    cut = [g > 1.6 * med + 1.0 for g in gaps]
    if not any(cut) and med < 2.0:  # ruled cells side by side: the column headings tell
        cut = _header_cuts(img, s, row) or cut
    fields, cur = [], [row[0]]
    for b, c in zip(row[1:], cut, strict=True):
        if c:
            fields.append(cur)
            cur = []
        cur.append(b)
    return fields + [cur]


def bubbles_under(circ: list[tuple[float, float, float]], boxes: list[Box], below: list[Box],
                  height: float) -> list[list[dict]] | None:
    """Ten bubbles (digits 0..9, top to bottom) in each box's column, down to the next box in
    that column: a second reading of the digit. None unless every box has exactly ten."""
    cols = []
    for b in boxes:
        cx, bottom = b[0] + b[2] / 2, b[1] + b[3]
        stop = min((o[1] for o in below if o[1] > bottom and abs(o[0] + o[2] / 2 - cx) < b[2] / 2), default=height)
        col = sorted((c for c in circ if abs(c[0] - cx) < b[2] / 2 and bottom < c[1] < stop), key=lambda c: c[1])
        col = [c for c in col if col and abs(c[2] - col[0][2]) < 0.25 * col[0][2]]  # not the letter Os below
        for i in range(2, len(col)):  # the column ends where the even spacing does
            if col[i][1] - col[i - 1][1] > 1.8 * (col[1][1] - col[0][1]):
                col = col[:i]
                break
        if len(col) != 10:
            return None
        cols.append([{"cx": r2(x), "cy": r2(y), "r": r2(r)} for x, y, r in col])
    return cols


# ---------------------------------------------------------------- one page of a PDF


class MeasureProblem(StrEnum):
    """Why a page could not be measured (stable codes; the CLI prints one line)."""

    NOT_FOUND = "not_found"
    NOT_A_PDF = "not_a_pdf"
    UNREADABLE_PDF = "unreadable_pdf"  # damaged, encrypted, or poppler failed / timed out
    NO_SUCH_PAGE = "no_such_page"
    TOO_MANY_PIXELS = "too_many_pixels"  # the page at this dpi would pass PINDAI_MAX_PIXELS


class MeasureError(Exception):
    def __init__(self, problem: MeasureProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class MeasuredPage:
    """The layout part of a form definition for one page (JSON-ready, schemas/layout.py keys)."""

    layout: dict

    @property
    def boxes(self) -> list[dict]:
        return [b for f in self.layout["fields"] for b in f["boxes"]]


def _render(pdf: Path, page: int, dpi: float, timeout: float) -> tuple[np.ndarray, tuple[float, float]]:
    """The page rendered in gray, and its size in points; every refusal a ``MeasureError``."""
    pdf = Path(pdf)
    if not pdf.is_file():
        raise MeasureError(MeasureProblem.NOT_FOUND, f"{pdf} does not exist")
    with pdf.open("rb") as fh:
        if b"%PDF-" not in fh.read(1024):
            raise MeasureError(MeasureProblem.NOT_A_PDF, f"{pdf} is not a PDF")
    try:
        info = pdf_info(pdf, timeout=timeout, max_pages=page if page >= 1 else 1)
        if not 1 <= page <= info.pages:
            raise MeasureError(MeasureProblem.NO_SUCH_PAGE, f"{pdf.name} has {info.pages} page(s), not page {page}")
        if len(info.page_sizes_pt) < page:
            raise MeasureError(MeasureProblem.UNREADABLE_PDF, f"page {page} has no readable page size")
        w_pt, h_pt = info.page_sizes_pt[page - 1]
        # Sized before rendering: a page of metres (or a high --dpi) is refused, not rendered into gigabytes.
        pixels, limit = (w_pt * dpi / 72) * (h_pt * dpi / 72), Settings.from_env().limits.max_pixels
        if pixels > limit:
            raise MeasureError(MeasureProblem.TOO_MANY_PIXELS, f"page {page} ({w_pt:g} x {h_pt:g} pt) at {dpi:g} dpi "
                                                               f"would be {pixels / 1e6:.0f} MP > {limit / 1e6:.0f} MP")
        # "Encrypted" with an empty user password (copy protection) renders fine: poppler says when not.
        img = rasterize_page(pdf, page, dpi, timeout=timeout)
    except ToolError as exc:
        raise MeasureError(MeasureProblem.UNREADABLE_PDF, f"{exc.reason.value}: {exc}") from exc
    return img, (w_pt, h_pt)


def measure_page(pdf: Path, page: int, dpi: float = 144.0, timeout: float = 120.0,
                 lines: bool = False) -> MeasuredPage:
    """Measure page ``page`` (1-based) of ``pdf`` at ``dpi``: marks, tag, (for a page with
    neither) the table frame and its rules, and the digit boxes as fields named by position:
    ``rowNN_groupK`` is the K-th number (left to right) on the NN-th row of boxes (top down).
    With ``lines``, also every printed rule over 15 pt and every dotted write-on line, as the
    layouts' rendering-only ``lines`` (a start for drawing a look-alike of the page).

    Raises ``MeasureError``. At 144 dpi a pixel is half a point: box edges land within 0.5 pt.
    """
    img, (width, height) = _render(pdf, page, dpi, timeout)
    s = dpi / 72
    mk = marks(img, s)
    per_corner = Counter(m["corner"] for m in mk)
    mk = [m for m in mk if per_corner[m["corner"]] == 1]  # two blobs in one corner: neither is a mark
    for m in mk:
        m["cells"] = mark_cells(img, s, m)
    found_tag = apriltag(img, s)
    tag = None if found_tag is None else {"family": "36h10", "id": found_tag[0], "corners": found_tag[1]}
    exclude: list[Box] = [(m["rect"]["x"], m["rect"]["y"], m["rect"]["w"], m["rect"]["h"]) for m in mk]
    if tag is not None:
        xs, ys = [c[0] for c in tag["corners"]], [c[1] for c in tag["corners"]]
        exclude.append((min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))
    runs = box_runs(digit_box_candidates(img, s), exclude)
    rows: list[list[Box]] = []
    for run in runs:  # runs on one line make one row of boxes
        if rows and abs(rows[-1][0][1] - run[0][1]) <= 2.0:
            rows[-1] = sorted(rows[-1] + run, key=lambda b: b[0])
        else:
            rows.append(list(run))
    every = [b for r in rows for b in r]
    circ = circles(img, s, 8, 40, (0, 0, width, height)) if every else []
    fields = []
    for i, row in enumerate(rows, start=1):
        for k, boxes in enumerate(split_fields(img, s, row), start=1):
            f: dict = {"id": f"row{i:02d}_group{k}", "section": "", "label_id": "", "label_en": "",
                       "boxes": [rect(*b) for b in boxes]}
            bub = bubbles_under(circ, boxes, every, height)
            if bub is not None:
                f["bubbles"] = bub
            fields.append(f)
    layout: dict = {"page": page, "width": r2(width), "height": r2(height), "marks": mk, "tag": tag}
    if tag is None and len(mk) < 4:  # registration needs the table's frame and rules
        tf = table_frame(img, s)
        if tf is not None:
            layout["frame"], layout["ruled_rows"] = tf
    layout["fields"] = fields
    if lines:
        dots = dotted_lines(img, s, (0, 0, width, height))
        layout["lines"] = rules_as_lines(img, s, 15) + dotted_as_lines(dots, 1.0)  # dot size is not measured
    # Every part must load as the layout models do: a person only adds names and a form type.
    for m in mk:
        Mark.model_validate(m)
    if tag is not None:
        Tag.model_validate(tag)
    if "frame" in layout:
        Rect.model_validate(layout["frame"])
    for f in fields:
        Field_.model_validate(f)
    for ln in layout.get("lines", []):
        Line.model_validate(ln)
    return MeasuredPage(layout)


def match_boxes(expected: list[dict], measured: list[dict], tol: float = 1.0
                ) -> tuple[list[tuple[dict, dict, float]], list[dict], list[dict]]:
    """Pair each expected rect with the measured rect nearest to it (largest edge difference,
    points) when that is within ``tol``: (pairs with their difference, expected left unmatched,
    measured left unmatched). How a hand-built layout is checked against a measurement."""
    left = list(measured)
    pairs, missing = [], []
    for e in expected:
        def diff(m: dict, e: dict = e) -> float:
            return max(abs(m["x"] - e["x"]), abs(m["y"] - e["y"]), abs(m["x"] + m["w"] - e["x"] - e["w"]),
                       abs(m["y"] + m["h"] - e["y"] - e["h"]))
        best = min(left, key=diff, default=None)
        if best is not None and diff(best) <= tol:
            pairs.append((e, best, diff(best)))
            left.remove(best)
        else:
            missing.append(e)
    return pairs, missing, left
