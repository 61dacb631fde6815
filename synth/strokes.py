"""Procedural handwritten digits (and the "X" / "-" no-digit marks) drawn as pen strokes.

The fallback when no real handwriting is at hand, and the source of "X" and "-" for every
writer (the digit data sets have no such class). Each glyph is a few strokes through control
points in a unit box (x right, y down); a writer perturbs the control points once (their habit)
and every instance a little more (the hand never repeats exactly). Strokes are smoothed with
Chaikin corner cutting and drawn anti-aliased on a supersampled canvas.
"""

from __future__ import annotations

import cv2
import numpy as np

Stroke = list[tuple[float, float]]

# Control points, unit box. Several variants per digit, as people write them differently.
GLYPHS: dict[str, list[list[Stroke]]] = {
    "0": [[[(0.5, 0.02), (0.15, 0.2), (0.08, 0.55), (0.25, 0.92), (0.55, 0.98), (0.85, 0.75),
            (0.9, 0.35), (0.7, 0.05), (0.45, 0.03)]]],
    "1": [[[(0.25, 0.25), (0.55, 0.02), (0.55, 0.98)]],
          [[(0.5, 0.02), (0.5, 0.98)]],
          [[(0.3, 0.2), (0.55, 0.02), (0.55, 0.98)], [(0.3, 0.98), (0.8, 0.98)]]],
    "2": [[[(0.12, 0.25), (0.35, 0.03), (0.7, 0.05), (0.85, 0.3), (0.6, 0.6), (0.1, 0.97), (0.92, 0.95)]],
          [[(0.15, 0.2), (0.5, 0.02), (0.85, 0.2), (0.75, 0.5), (0.15, 0.95), (0.35, 0.85), (0.9, 0.97)]]],
    "3": [[[(0.15, 0.12), (0.5, 0.02), (0.82, 0.18), (0.7, 0.42), (0.4, 0.5), (0.8, 0.6), (0.88, 0.85),
            (0.55, 0.99), (0.12, 0.88)]],
          [[(0.12, 0.05), (0.85, 0.05), (0.45, 0.42), (0.85, 0.62), (0.75, 0.93), (0.4, 0.99), (0.1, 0.85)]]],
    "4": [[[(0.6, 0.02), (0.1, 0.68), (0.92, 0.68)], [(0.68, 0.3), (0.68, 0.99)]],
          [[(0.2, 0.02), (0.12, 0.6), (0.85, 0.6)], [(0.72, 0.05), (0.72, 0.99)]]],
    "5": [[[(0.85, 0.03), (0.25, 0.03), (0.18, 0.45), (0.6, 0.4), (0.88, 0.65), (0.75, 0.92),
            (0.4, 0.99), (0.1, 0.85)]],
          [[(0.22, 0.04), (0.15, 0.45), (0.6, 0.4), (0.88, 0.65), (0.7, 0.95), (0.15, 0.9)],
           [(0.22, 0.04), (0.88, 0.04)]]],
    "6": [[[(0.75, 0.03), (0.35, 0.25), (0.12, 0.65), (0.3, 0.97), (0.7, 0.95), (0.85, 0.7),
            (0.6, 0.5), (0.25, 0.58), (0.15, 0.72)]]],
    "7": [[[(0.1, 0.05), (0.9, 0.05), (0.55, 0.5), (0.38, 0.99)]],
          [[(0.12, 0.15), (0.12, 0.04), (0.9, 0.05), (0.4, 0.99)], [(0.35, 0.5), (0.78, 0.5)]]],
    "8": [[[(0.55, 0.48), (0.2, 0.3), (0.3, 0.05), (0.7, 0.05), (0.78, 0.3), (0.5, 0.48), (0.15, 0.72),
            (0.35, 0.98), (0.75, 0.95), (0.85, 0.72), (0.55, 0.48)]]],
    "9": [[[(0.82, 0.3), (0.6, 0.5), (0.25, 0.45), (0.18, 0.2), (0.45, 0.02), (0.8, 0.12), (0.82, 0.45),
            (0.7, 0.99)]],
          [[(0.8, 0.2), (0.5, 0.45), (0.2, 0.35), (0.3, 0.05), (0.75, 0.05), (0.8, 0.3), (0.78, 0.99)]]],
    "X": [[[(0.1, 0.1), (0.9, 0.92)], [(0.88, 0.08), (0.12, 0.95)]]],
    "-": [[[(0.1, 0.52), (0.55, 0.49), (0.9, 0.5)]]],
}


def _chaikin(pts: np.ndarray, iterations: int = 3) -> np.ndarray:
    closed = np.allclose(pts[0], pts[-1], atol=1e-3) and len(pts) > 3
    for _ in range(iterations):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        mid = np.empty((2 * len(q), 2))
        mid[0::2], mid[1::2] = q, r
        pts = mid if closed else np.vstack([pts[:1], mid, pts[-1:]])
    return pts


class StrokeHand:
    """One procedural writer: fixed glyph variants and habits, fresh jitter per instance."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.variant = {k: int(rng.integers(len(v))) for k, v in GLYPHS.items()}
        # The writer's own deformation of each glyph's control points (their habit).
        self.habit = {k: [rng.normal(0, 0.04, (len(s), 2)) for s in GLYPHS[k][self.variant[k]]] for k in GLYPHS}
        self.aspect = float(rng.uniform(0.5, 0.78))  # width / height of their digits
        self.wobble = float(rng.uniform(0.01, 0.03))

    def glyph(self, label: str, height: int, width_px: float, rng: np.random.Generator) -> np.ndarray:
        """Float mask (0..1) of ``label``, ``height`` px tall, strokes ``width_px`` wide, upright."""
        ss = 4  # supersampling for smooth anti-aliased strokes
        h = max(8, height)
        w = max(4, int(round(h * (self.aspect if label not in "1-" else (0.3 if label == "1" else 0.8)))))
        if label == "-":
            w = int(round(h * self.aspect * 1.1))
        pad = int(np.ceil(width_px)) + 2
        canvas = np.zeros(((h + 2 * pad) * ss, (w + 2 * pad) * ss), np.uint8)
        strokes = GLYPHS[label][self.variant[label]]
        for s, hab in zip(strokes, self.habit[label], strict=True):
            pts = np.array(s, float) + hab + rng.normal(0, self.wobble, (len(s), 2))
            pts = _chaikin(pts)
            xy = np.stack([pad + pts[:, 0] * w, pad + pts[:, 1] * h], axis=1) * ss
            cv2.polylines(canvas, [np.round(xy * 16).astype(np.int32)], False, 255,
                          thickness=max(1, int(round(width_px * ss))), lineType=cv2.LINE_AA, shift=4)
        small = cv2.resize(canvas, (w + 2 * pad, h + 2 * pad), interpolation=cv2.INTER_AREA)
        return small.astype(np.float32) / 255.0
