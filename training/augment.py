"""Synthesize digit-box crops the way the reader sees them (training only).

One example = a small "scene" around one printed digit box (its border, neighbour boxes or table
cells, an optional dotted seven-segment guide, paper texture, light), with handwriting pasted
in, rendered at a design resolution, shrunk to the source resolution of a scan or photo (box
12-64 px), degraded (blur, noise, JPEG, fax binarization), and finally cut out with
``extract.digits.crop_boxes`` through a homography that carries a small registration error.
Going through the reader's own crop function keeps trainer and reader in exact agreement.

Content classes: 0-9 from real handwriting (28x28 white on black), 10 = a no-digit mark drawn
procedurally (X, dash, long dash, double dash), 11 = blank (maybe a speck).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from extract.digits import CROP_SIZE, crop_boxes
from schemas.layout import Rect
from training.glyphs import elastic

CLASS_MARK = 10
CLASS_BLANK = 11
_DESIGN_H = 40  # box height at the design resolution (px)


def _u(rng: np.random.Generator, a: float, b: float) -> float:
    return float(rng.uniform(a, b))


def _ink_alpha_digit(rng: np.random.Generator, img28: np.ndarray, canvas_hw: tuple[int, int],
                     box: tuple[float, float, float, float], free: bool = False) -> np.ndarray:
    """Warp a 28x28 white-on-black digit into the canvas as ink alpha (0..1) inside ``box``."""
    if rng.random() < 0.4:  # a writer's own wobble: no two hands bend a stroke the same way
        img28 = np.clip(elastic(rng, img28.astype(np.float32), alpha=_u(rng, 0.5, 2.2)), 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(img28 > 30)
    if len(xs) == 0:
        return np.zeros(canvas_hw, np.float32)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    bx, by, bw, bh = box
    dh = _u(rng, 0.5, 0.95) * bh
    scale = dh / (y1 - y0)
    sx = scale * _u(rng, 0.85, 1.2)
    dw = (x1 - x0) * sx
    if dw > 0.95 * bw:  # wide digits in narrow boxes: shrink to fit
        sx *= 0.95 * bw / dw
        dw = 0.95 * bw
    shear = _u(rng, -0.3, 0.3)
    ang = math.radians(_u(rng, -7, 7))
    slack_x, slack_y = max(0.0, (bw - dw) / 2), max(0.0, (bh - dh) / 2)
    over = 0.18 * bh if (free or rng.random() < 0.12) else 0.0  # sometimes touching/crossing the border
    cx = bx + bw / 2 + _u(rng, -1, 1) * (slack_x + over)
    cy = by + bh / 2 + _u(rng, -1, 1) * (slack_y + over)
    # crop coords -> centred, scaled, sheared, rotated, translated
    c, s = math.cos(ang), math.sin(ang)
    A = np.array([[sx, -shear * scale], [0, scale]]) @ np.eye(2)
    R = np.array([[c, -s], [s, c]])
    M2 = R @ A
    src_c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    t = np.array([cx, cy]) - M2 @ src_c
    M = np.hstack([M2, t[:, None]]).astype(np.float32)
    alpha = cv2.warpAffine(img28.astype(np.float32) / 255.0, M, (canvas_hw[1], canvas_hw[0]),
                           flags=cv2.INTER_LINEAR, borderValue=0)
    return alpha


def _stroke(rng: np.random.Generator, alpha: np.ndarray, pts: np.ndarray, width: float) -> None:
    pts = np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(alpha, [pts], False, 1.0, max(1, int(round(width))), cv2.LINE_AA, shift=4)


def _bent_line(rng: np.random.Generator, p0: np.ndarray, p1: np.ndarray, bend: float) -> np.ndarray:
    n = 5
    t = np.linspace(0, 1, n)[:, None]
    pts = p0 + t * (p1 - p0)
    d = p1 - p0
    nrm = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-6)
    pts += nrm * (np.sin(np.pi * t) * bend * np.linalg.norm(d))
    pts += rng.normal(0, 0.4, pts.shape)
    return pts


def _ink_alpha_mark(rng: np.random.Generator, canvas_hw: tuple[int, int],
                    box: tuple[float, float, float, float]) -> np.ndarray:
    """A procedurally drawn no-digit mark: X cross, dash, long dash or double dash."""
    alpha = np.zeros(canvas_hw, np.float32)
    bx, by, bw, bh = box
    width = _u(rng, 0.05, 0.13) * bh
    kind = rng.choice(["x", "dash", "long", "double"], p=[0.4, 0.25, 0.2, 0.15])
    cx = bx + bw / 2 + _u(rng, -0.15, 0.15) * bw
    cy = by + bh / 2 + _u(rng, -0.15, 0.15) * bh
    if kind == "x":
        hw, hh = _u(rng, 0.2, 0.47) * bw, _u(rng, 0.2, 0.47) * bh
        for sgn in (1, -1):
            jit = rng.normal(0, 0.05, 4) * bh
            p0 = np.array([cx - hw + jit[0], cy - sgn * hh + jit[1]])
            p1 = np.array([cx + hw + jit[2], cy + sgn * hh + jit[3]])
            _stroke(rng, alpha, _bent_line(rng, p0, p1, _u(rng, -0.08, 0.08)), width)
    else:
        half = (_u(rng, 0.15, 0.35) if kind in ("dash", "double") else _u(rng, 0.35, 0.55)) * bw
        ang = math.radians(_u(rng, -10, 10))
        d = np.array([math.cos(ang), math.sin(ang)]) * half
        offs = [0.0] if kind != "double" else [-1, 1]
        gap = _u(rng, 0.06, 0.14) * bh
        for o in offs:
            c = np.array([cx, cy + o * gap])
            _stroke(rng, alpha, _bent_line(rng, c - d, c + d, _u(rng, -0.06, 0.06)), width)
    return alpha


def _guide(canvas: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator) -> None:
    """The faint dotted seven-segment guide printed in plano page-2 boxes."""
    bx, by, bw, bh = box
    ix, iy = _u(rng, 0.22, 0.32) * bw, _u(rng, 0.12, 0.2) * bh
    x0, x1, y0, y2 = bx + ix, bx + bw - ix, by + iy, by + bh - iy
    y1 = (y0 + y2) / 2
    segs = [((x0, y0), (x1, y0)), ((x0, y1), (x1, y1)), ((x0, y2), (x1, y2)), ((x0, y0), (x0, y1)),
            ((x1, y0), (x1, y1)), ((x0, y1), (x0, y2)), ((x1, y1), (x1, y2))]
    step = _u(rng, 2.5, 5.0)
    val = _u(rng, 120, 215)
    rad = _u(rng, 0.5, 1.3)
    for (a, b), (c, d) in segs:
        n = max(2, int(math.hypot(c - a, d - b) / step))
        for t in np.linspace(0, 1, n):
            cv2.circle(canvas, (int(round((a + t * (c - a)) * 16)), int(round((b + t * (d - b)) * 16))),
                       int(rad * 16), float(val), -1, cv2.LINE_AA, shift=4)


def _line(canvas: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], val: float, t: float) -> None:
    cv2.line(canvas, (int(round(p0[0] * 16)), int(round(p0[1] * 16))),
             (int(round(p1[0] * 16)), int(round(p1[1] * 16))), float(val), max(1, int(round(t))),
             cv2.LINE_AA, shift=4)


def _rect_lines(canvas: np.ndarray, box: tuple[float, float, float, float], val: float, t: float,
                rng: np.random.Generator, partial: float) -> None:
    """A printed box border whose OUTER edge is ``box`` (lines drawn inside it)."""
    bx, by, bw, bh = box
    h = t / 2
    sides = [((bx, by + h), (bx + bw, by + h)), ((bx, by + bh - h), (bx + bw, by + bh - h)),
             ((bx + h, by), (bx + h, by + bh)), ((bx + bw - h, by), (bx + bw - h, by + bh))]
    for p0, p1 in sides:
        if rng.random() < partial:
            if rng.random() < 0.5:
                continue  # side missing (faded print, scan cut)
            a, b = sorted(rng.uniform(0, 1, 2))
            p0, p1 = ((p0[0] + a * (p1[0] - p0[0]), p0[1] + a * (p1[1] - p0[1])),
                      (p0[0] + b * (p1[0] - p0[0]), p0[1] + b * (p1[1] - p0[1])))
        _line(canvas, p0, p1, val, t)


def render_crop(rng: np.random.Generator, label: int, digit: np.ndarray | None,
                neighbours: list[np.ndarray], size: int = CROP_SIZE) -> np.ndarray:
    """One synthetic crop (size x size uint8, paper white) of a box holding ``label``.

    ``digit``: the 28x28 white-on-black image for labels 0-9 (None for marks/blank).
    ``neighbours``: a few other 28x28 digits to write into neighbouring boxes/cells.
    """
    # --- geometry: source resolution, box aspect, design canvas
    hb = float(np.exp(rng.uniform(np.log(12), np.log(64))))  # box height in source pixels
    style = rng.choice(["plano", "table"], p=[0.55, 0.45])
    aspect = _u(rng, 0.9, 1.1) if (style == "plano" or rng.random() < 0.3) else _u(rng, 0.6, 1.4)
    D = max(_DESIGN_H, int(math.ceil(hb)))
    bh, bw = float(D), D * aspect
    mx, my = 0.6 * bw, 0.6 * bh
    W, Hh = int(math.ceil(bw + 2 * mx)), int(math.ceil(bh + 2 * my))
    box = (mx, my, bw, bh)

    # --- paper with low-frequency texture
    paper = _u(rng, 170, 250)
    canvas = np.full((Hh, W), paper, np.float32)
    if rng.random() < 0.7:
        lo = cv2.resize(rng.normal(0, 1, (4, 4)).astype(np.float32), (W, Hh), interpolation=cv2.INTER_CUBIC)
        canvas += lo * _u(rng, 0, 10)

    # --- printed lines: separate boxes (plano) or table cells (Salinan)
    t = max(1.0, _u(rng, 0.02, 0.08) * bh)
    line_v = _u(rng, 0, 100) if rng.random() < 0.85 else _u(rng, 100, 175)
    partial = 0.12 if rng.random() < 0.2 else 0.0
    neigh_boxes: list[tuple[float, float, float, float]] = []
    if style == "plano":
        gap = _u(rng, 0.08, 0.6) * bw
        for k in (-1, 1):
            neigh_boxes.append((mx + k * (bw + gap), my, bw, bh))
        for b in [box, *neigh_boxes]:
            _rect_lines(canvas, b, line_v, t, rng, partial)
        if rng.random() < 0.2:
            _guide(canvas, box, rng)
            for b in neigh_boxes:
                _guide(canvas, b, rng)
    else:
        for k in (-1, 1):
            neigh_boxes.append((mx + k * bw, my, bw, bh))
        rh = _u(rng, 1.0, 1.6) * bh  # rows above/below
        neigh_boxes += [(mx, my - rh, bw, rh - 0.0), (mx, my + bh, bw, rh)]
        xs = [mx - bw, mx, mx + bw, mx + 2 * bw]
        for i, x in enumerate(xs):
            xx = x + t / 2 if i < 2 else x - t / 2
            if rng.random() > partial:
                _line(canvas, (xx, 0), (xx, Hh), line_v, t)
        for y in (my + t / 2, my + bh - t / 2):
            if rng.random() > partial:
                _line(canvas, (0, y), (W, y), line_v, t)
    if rng.random() < 0.2:  # unrelated printed text/lines far from the box centre
        y = rng.choice([my - _u(rng, 0.15, 0.5) * bh, my + bh + _u(rng, 0.15, 0.5) * bh])
        _line(canvas, (0, y), (W, y), _u(rng, 0, 150), max(1.0, t * _u(rng, 0.5, 1.5)))

    # --- handwriting: the content and its neighbours
    alpha = np.zeros((Hh, W), np.float32)
    if label < 10 and digit is not None:
        alpha = np.maximum(alpha, _ink_alpha_digit(rng, digit, (Hh, W), box))
    elif label == CLASS_MARK:
        alpha = _ink_alpha_mark(rng, (Hh, W), box)
    elif rng.random() < 0.3:  # blank: maybe a speck or a tiny tick
        p = np.array([_u(rng, mx + 0.15 * bw, mx + 0.85 * bw), _u(rng, my + 0.15 * bh, my + 0.85 * bh)])
        if rng.random() < 0.6:
            cv2.circle(alpha, (int(p[0] * 16), int(p[1] * 16)), int(_u(rng, 0.5, 1.8) * 16), 1.0, -1,
                       cv2.LINE_AA, shift=4)
        else:
            d = rng.normal(0, 1, 2)
            d = d / (np.linalg.norm(d) + 1e-6) * _u(rng, 0.03, 0.09) * bh
            _stroke(rng, alpha, np.stack([p, p + d]), _u(rng, 1, 3))
    for nb, img in zip(neigh_boxes, neighbours, strict=False):
        if rng.random() < 0.6:
            alpha = np.maximum(alpha, _ink_alpha_digit(rng, img, (Hh, W), nb, free=rng.random() < 0.3))
    # stroke width: thin pens / felt tips
    r = rng.random()
    if r < 0.2:
        alpha = cv2.erode(alpha, np.ones((2, 2), np.uint8))
    elif r < 0.35:
        alpha = cv2.dilate(alpha, np.ones((2, 2) if rng.random() < 0.6 else (3, 3), np.uint8))
    alpha = np.clip(alpha * _u(rng, 0.65, 1.3), 0, 1)
    if rng.random() < 0.3:  # uneven ink (ballpoint skipping, pencil)
        tex = cv2.resize(rng.uniform(0.6, 1.0, (8, 8)).astype(np.float32), (W, Hh), interpolation=cv2.INTER_LINEAR)
        alpha *= tex
    ink = _u(rng, 0, min(120.0, paper - 70)) if rng.random() < 0.9 else _u(rng, 0, paper - 50)
    canvas = canvas * (1 - alpha) + ink * alpha

    # --- uneven light (photos and flatbed scans; a fax is flat and bitonal)
    fax = rng.random() < 0.1
    if not fax and rng.random() < 0.6:
        yy, xx = np.mgrid[0:Hh, 0:W].astype(np.float32)
        g = 1 + _u(rng, -0.25, 0.25) * (xx / W - 0.5) + _u(rng, -0.25, 0.25) * (yy / Hh - 0.5)
        canvas *= g * _u(rng, 0.75, 1.05)
    if not fax and rng.random() < 0.08:  # a shadow edge
        yy, xx = np.mgrid[0:Hh, 0:W].astype(np.float32)
        a = _u(rng, 0, 2 * math.pi)
        d = (xx - W / 2) * math.cos(a) + (yy - Hh / 2) * math.sin(a) - _u(rng, -0.3, 0.3) * W
        canvas *= 1 - _u(rng, 0.2, 0.5) * 0.5 * (1 + np.tanh(d / _u(rng, 2, 12)))

    # --- down to the source resolution, degrade
    s = hb / bh
    sw, sh = max(4, int(round(W * s))), max(4, int(round(Hh * s)))
    s_x, s_y = sw / W, sh / Hh
    src = cv2.resize(canvas, (sw, sh), interpolation=cv2.INTER_AREA) if s < 1 else canvas
    if rng.random() < 0.5:
        src = cv2.GaussianBlur(src, (0, 0), _u(rng, 0.3, 0.9 if hb > 20 else 0.6))
    src = src + rng.normal(0, _u(rng, 0, 9), src.shape).astype(np.float32)
    src = np.clip(src, 0, 255).astype(np.uint8)
    if fax:  # fax / bitonal scans
        # threshold relative to the paper level, as a fax machine's auto-exposure would
        bg = float(np.percentile(src, 90))
        _, src = cv2.threshold(src, bg * _u(rng, 0.55, 0.8), 255, cv2.THRESH_BINARY)
    elif rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", src, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 92))])
        src = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)

    # --- the crop, through a homography with a registration error
    # layout units = design pixels (corner-based); image coords = OpenCV pixel centres.
    # Layout units = design pixels (corner-based); after INTER_AREA, source pixel j covers design
    # [j/s, (j+1)/s), so its OpenCV centre coordinate j maps back to design corner (j + 0.5) / s.
    if s >= 1:
        s_x = s_y = 1.0
    Ht = np.array([[s_x, 0, -0.5], [0, s_y, -0.5], [0, 0, 1]], np.float64)
    rect = Rect(x=mx, y=my, w=bw, h=bh)
    corners = np.array(rect.corners(), np.float64)
    sig = 0.025 if rng.random() < 0.8 else 0.05
    shift = np.clip(rng.normal(0, sig, 2), -0.1, 0.1) * [bw, bh]
    if rng.random() < 0.05:  # registration slips towards a neighbour: its digit intrudes
        shift[0] += rng.choice([-1, 1]) * _u(rng, 0.1, 0.22) * bw
    sc = 1 + np.clip(rng.normal(0, 0.03), -0.08, 0.08)
    ctr = corners.mean(axis=0)
    moved = ctr + (corners - ctr) * sc + shift + rng.normal(0, 0.008, (4, 2)) * [bw, bh]
    P = cv2.getPerspectiveTransform(corners.astype(np.float32), moved.astype(np.float32)).astype(np.float64)
    crop = crop_boxes(src, Ht @ P, [rect], size)[0]
    return crop


def render_many(seed: int, labels: np.ndarray, digit_idx: np.ndarray, images: np.ndarray,
                neighbour_pool: np.ndarray) -> np.ndarray:
    """Crops for ``labels`` (0-11); ``digit_idx[i]`` indexes ``images`` for digit labels.

    ``neighbour_pool``: indices into ``images`` allowed as neighbouring handwriting.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((len(labels), CROP_SIZE, CROP_SIZE), np.uint8)
    for i, (lab, di) in enumerate(zip(labels, digit_idx, strict=True)):
        neigh = [images[j] for j in rng.choice(neighbour_pool, 4)]
        out[i] = render_crop(rng, int(lab), images[di] if lab < 10 else None, neigh)
    return out


def render_clean_boxes(images: np.ndarray, px: float, seed: int = 0) -> np.ndarray:
    """Digits written neatly into clean printed boxes (no degradation besides the resolution).

    A 24x24-unit box with a 1.2-unit border at ``px`` pixels per unit, dark ink on light paper,
    the digit's 28x28 frame scaled to 95% of the box (the digit itself ~70%), a small random offset.
    The easy end of the distribution: an upper bound for real, careful handwriting.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((len(images), CROP_SIZE, CROP_SIZE), np.uint8)
    rect = Rect(x=8, y=8, w=24, h=24)
    H = np.array([[px, 0, -0.5], [0, px, -0.5], [0, 0, 1]])
    side = int(round(40 * px))
    s = int(round(rect.w * px))
    x0 = int(round(rect.x * px))
    t = max(1, int(round(1.2 * px)))
    d_side = int(s * 0.95)
    for i, img in enumerate(images):
        page = np.full((side, side), 235.0, np.float32)
        cv2.rectangle(page, (x0, x0), (x0 + s - 1, x0 + s - 1), 30.0, t)
        d = cv2.resize(img, (d_side, d_side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        o = x0 + (s - d_side) // 2 + rng.integers(-1, 2, 2)
        roi = page[o[1]:o[1] + d_side, o[0]:o[0] + d_side]
        page[o[1]:o[1] + d_side, o[0]:o[0] + d_side] = roi * (1 - d) + 20 * d
        out[i] = crop_boxes(page.astype(np.uint8), H, [rect])[0]
    return out
