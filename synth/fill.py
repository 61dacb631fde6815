"""Write a form's numbers into a rendered blank page, the way an officer does.

Digits are not centred by a machine: each lands where the writer habitually puts it, with some
jitter, at the writer's size (now and then big enough to touch the box border), over the dotted
seven-segment guide. Leading empty boxes get the writer's habit ("X", "-", blank or "0"). On the
PPWP plano page 2 the bubble under each digit box is blackened to match its digit.

Canvases are uint8 images, grayscale (H, W) or RGB (H, W, 3), 255 = paper; drawn on in place.
"""

from __future__ import annotations

import cv2
import numpy as np

from schemas.layout import Circle, Field_, PageLayout, Rect
from synth.handwriting import Writer


def box_contents(value: int | None, n_boxes: int, lead: str) -> list[str]:
    """What each box holds for ``value`` written right-aligned; leading boxes get ``lead``."""
    if value is None:
        return [""] * n_boxes
    digits = str(value)
    if len(digits) > n_boxes:
        raise ValueError(f"{value} does not fit in {n_boxes} boxes")
    pad = n_boxes - len(digits)
    return [lead] * pad + list(digits)


def bubble_choice(contents: list[str], bubble_lead: str) -> list[str]:
    """The bubble blackened under each box ("" = none): the digit, or the writer's lead habit."""
    if not any(c.isdigit() for c in contents):
        return [""] * len(contents)
    return [c if c.isdigit() else bubble_lead for c in contents]


def _ink_value(canvas: np.ndarray, ink: tuple[int, int, int]) -> np.ndarray:
    if canvas.ndim == 2:
        return np.float32(0.299 * ink[0] + 0.587 * ink[1] + 0.114 * ink[2])
    return np.array(ink, np.float32)


def stamp(canvas: np.ndarray, alpha: np.ndarray, cx: float, cy: float, ink: tuple[int, int, int],
          rng: np.random.Generator, strength: float = 0.93) -> None:
    """Blend ``alpha`` (ink coverage 0..1) centred at (cx, cy) into ``canvas`` in place."""
    h, w = alpha.shape
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    H, W = canvas.shape[:2]
    ax0, ay0 = max(0, -x0), max(0, -y0)
    ax1, ay1 = min(w, W - x0), min(h, H - y0)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    a = alpha[ay0:ay1, ax0:ax1] * np.float32(strength * rng.uniform(0.88, 1.0))
    # Ballpoint ink is uneven: a little low-frequency variation in coverage.
    if a.size > 64:
        tex = cv2.resize(rng.uniform(0.78, 1.0, (4, 4)).astype(np.float32), (a.shape[1], a.shape[0]))
        a = a * tex
    sl = (slice(y0 + ay0, y0 + ay1), slice(x0 + ax0, x0 + ax1))
    region = canvas[sl].astype(np.float32)
    ink_v = _ink_value(canvas, ink)
    if canvas.ndim == 3:
        a = a[..., None]
    region *= 1 - a
    region += a * ink_v
    canvas[sl] = np.clip(region + 0.5, 0, 255).astype(canvas.dtype)


def write_box(canvas: np.ndarray, box: Rect, label: str, ppu: float, writer: Writer,
              rng: np.random.Generator) -> None:
    if label == "":
        return
    bw, bh = box.w * ppu, box.h * ppu
    size = writer.size * rng.uniform(0.88, 1.1)
    if rng.random() < 0.06:  # now and then a digit too big for its box
        size *= 1.2
    if label == "-":
        size *= 0.8
    height = max(8, int(round(bh * size)))
    g = writer.glyph(label, height, rng)
    # Keep the glyph's ink roughly within the box width (a person adapts to the box).
    if g.shape[1] > bw * 1.1:
        s = bw * 1.1 / g.shape[1]
        g = cv2.resize(g, (max(1, int(g.shape[1] * s)), max(1, int(g.shape[0] * s))), interpolation=cv2.INTER_AREA)
    jx, jy = rng.normal(0, writer.jitter, 2)
    cx = (box.cx + (writer.bias[0] + jx) * box.w) * ppu
    cy = (box.cy + (writer.bias[1] + jy) * box.h) * ppu
    stamp(canvas, g, cx, cy, writer.ink, rng, strength=writer.strength)


def blacken_bubble(canvas: np.ndarray, c: Circle, ppu: float, writer: Writer, rng: np.random.Generator) -> None:
    r = c.r * ppu
    size = int(np.ceil(r * 2.6)) + 4
    ss = 4
    m = np.zeros((size * ss, size * ss), np.uint8)
    centre = (size * ss // 2 + int(rng.normal(0, 0.08 * r * ss)), size * ss // 2 + int(rng.normal(0, 0.08 * r * ss)))
    rr = r * writer.bubble_fill * rng.uniform(0.9, 1.08) * ss
    axes = (max(1, int(rr * rng.uniform(0.9, 1.1))), max(1, int(rr * rng.uniform(0.9, 1.1))))
    cv2.ellipse(m, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    # A few pen strokes escape the circle, as when a bubble is scribbled in a hurry.
    for _ in range(int(rng.integers(0, 3))):
        a = rng.uniform(0, 2 * np.pi)
        p1 = (centre[0] + int(np.cos(a) * rr * 0.6), centre[1] + int(np.sin(a) * rr * 0.6))
        p2 = (centre[0] + int(np.cos(a) * rr * 1.15), centre[1] + int(np.sin(a) * rr * 1.15))
        cv2.line(m, p1, p2, 255, max(1, int(writer.width_frac * rr)), cv2.LINE_AA)
    alpha = cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    stamp(canvas, alpha, c.cx * ppu, c.cy * ppu, writer.ink, rng, strength=0.9)


# The plano's tally grid: 12 columns of one group of five each, then a "jumlah tiap baris" (row
# total) column, 5 rows. The layout's tally rect spans both; the grid is its left 87.3%.
TALLY_COLS, TALLY_ROWS, TALLY_GRID_FRAC = 12, 5, 0.873


def tally_marks(canvas: np.ndarray, area: Rect, count: int, ppu: float, writer: Writer,
                rng: np.random.Generator) -> None:
    """Tally strokes (four bars and a diagonal per cell) row by row, and each row's total."""
    if count <= 0:
        return
    cw = area.w * TALLY_GRID_FRAC / TALLY_COLS
    ch = area.h / TALLY_ROWS
    thick = max(1, int(round(writer.width_frac * ch * ppu * 0.45)))
    colour = _draw_colour(canvas, writer)
    left = min(count, TALLY_COLS * TALLY_ROWS * 5)
    row_counts = [0] * TALLY_ROWS
    for g in range((left + 4) // 5):
        r, col = divmod(g, TALLY_COLS)
        x0, y0 = area.x + col * cw, area.y + r * ch
        n = min(5, left)
        left -= n
        row_counts[r] += n
        for i in range(min(n, 4)):
            x = (x0 + cw * (0.22 + 0.17 * i) + rng.normal(0, cw * 0.02)) * ppu
            p1 = (int(x), int((y0 + ch * rng.uniform(0.12, 0.22)) * ppu))
            p2 = (int(x + rng.normal(0, cw * 0.03) * ppu), int((y0 + ch * rng.uniform(0.78, 0.88)) * ppu))
            cv2.line(canvas, p1, p2, colour, thick, cv2.LINE_AA)
        if n == 5:
            cv2.line(canvas, (int((x0 + cw * 0.1) * ppu), int((y0 + ch * 0.75) * ppu)),
                     (int((x0 + cw * 0.9) * ppu), int((y0 + ch * 0.3) * ppu)), colour, thick, cv2.LINE_AA)
    tx = area.x + area.w * TALLY_GRID_FRAC
    tw = area.w * (1 - TALLY_GRID_FRAC)
    for r, n in enumerate(row_counts):
        if n == 0:
            continue
        digits = str(n)
        dw = tw * 0.3
        start = tx + (tw - dw * len(digits)) / 2
        for i, d in enumerate(digits):
            write_box(canvas, Rect(x=start + i * dw, y=area.y + r * ch + ch * 0.1, w=dw, h=ch * 0.8), d, ppu,
                      writer, rng)


def _draw_colour(canvas: np.ndarray, writer: Writer) -> float | tuple[float, float, float]:
    ink_v = np.atleast_1d(_ink_value(canvas, writer.ink))
    return float(ink_v[0]) if canvas.ndim == 2 else (float(ink_v[0]), float(ink_v[1]), float(ink_v[2]))


def scribble(canvas: np.ndarray, area: Rect, ppu: float, writer: Writer, rng: np.random.Generator,
             fill: float = 0.7, max_xh: float = 20.0) -> None:
    """Cursive-looking handwriting (amounts in words, names, signatures): ink only, no content.

    A prolate cycloid with wandering loop height reads as joined-up writing at a glance.
    """
    xh = min(area.h * 0.35, max_xh)  # x-height in layout units
    x = area.x + area.w * rng.uniform(0.02, 0.08)
    x_end = area.x + area.w * min(0.97, rng.uniform(0.35, fill + 0.25))
    cy = area.y + area.h * rng.uniform(0.45, 0.65)
    colour = _draw_colour(canvas, writer)
    thick = max(1, int(round(writer.width_frac * xh * ppu * 0.8)))
    slant = np.tan(np.radians(writer.slant_deg))
    while x < x_end:
        n_letters = int(rng.integers(3, 9))
        t = np.linspace(0, 2 * np.pi * n_letters, n_letters * 14)
        tall = np.repeat(rng.random(n_letters) < 0.25, 14)  # ascenders now and then
        amp = xh * 0.5 * np.where(tall, 1.8, 1.0) * np.repeat(rng.uniform(0.6, 1.0, n_letters), 14)
        loop = np.repeat(rng.uniform(-0.15, 0.45, n_letters), 14)  # loops (e, l) or arches (n, m)
        step = xh * rng.uniform(0.5, 0.8) / (2 * np.pi)
        px = x + step * t - loop * xh * np.sin(t)
        py = cy - amp * (0.5 - 0.5 * np.cos(t)) + rng.normal(0, xh * 0.03, len(t))
        px = px + slant * (cy - py)
        pts = np.stack([px * ppu, py * ppu], axis=1)
        cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, colour, thick, cv2.LINE_AA, shift=4)
        x = float(px.max()) + xh * rng.uniform(0.6, 1.2)


def fill_page(canvas: np.ndarray, page: PageLayout, ppu: float, boxes: dict[str, list[str]],
              bubbles: dict[str, list[str]], writer: Writer, rng: np.random.Generator,
              tallies: dict[str, int] | None = None) -> None:
    """Write every field of ``page`` (contents per box in ``boxes``) and blacken ``bubbles``."""
    for f in page.fields:
        _fill_field(canvas, f, ppu, boxes.get(f.id, []), bubbles.get(f.id), writer, rng)
        if tallies and f.id in tallies:
            for name, rect in f.extra.items():
                if "tally" in name:
                    tally_marks(canvas, rect, tallies[f.id], ppu, writer, rng)
                elif "word" in name:
                    scribble(canvas, rect, ppu, writer, rng, max_xh=page.width * 0.012)
    for rect in page.private:  # signatures and names: ink, never content
        if rng.random() < 0.85:
            scribble(canvas, rect, ppu, writer, rng, fill=0.5, max_xh=page.width * 0.012)


def _fill_field(canvas: np.ndarray, f: Field_, ppu: float, contents: list[str], bubble_digits: list[str] | None,
                writer: Writer, rng: np.random.Generator) -> None:
    for box, label in zip(f.boxes, contents, strict=False):
        write_box(canvas, box, label, ppu, writer, rng)
    if f.bubbles is not None and bubble_digits is not None:
        for col, d in zip(f.bubbles, bubble_digits, strict=True):
            if d != "":
                blacken_bubble(canvas, col[int(d)], ppu, writer, rng)
