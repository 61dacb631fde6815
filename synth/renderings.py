"""Deliberately different renderings of the same forms (issue #12: automation on forms pindai did
not draw).

The default generator writes with one family of habits and scans with one family of pipelines; a
reader tuned on it may doubt correctly read digits that look otherwise. Each rendering here moves
one lever far from the default, on the same forms (same numbers, same pages):

- ``small-offcentre``: digits 40-55% of the box height, written well away from the centre;
- ``thin-faint``: a thin, pale, dry ballpoint (strokes 4-5.5% of the digit height, 70-85% of the ink;
  the default hand's are 6-12%, 93%);
- ``thick-marker``: a felt marker (strokes 15-21% of the height), dense black or dark blue;
- ``blocky``: glyphs drawn 13-18 px tall and blown up without smoothing (coarsely digitised hands);
- ``other-scanner``: another capture pipeline after the geometry (sharpening, levels, adaptive
  binarisation or heavy JPEG for scans; denoise, local contrast, sharpening and heavy JPEG for
  phone photos), so boxes stay exactly where ``boxes_px`` says.

Renderings draw from their own RNG (synth.generate), never the form's: a default batch is
byte-identical, and a rendered batch holds the same forms with the same mistakes, scanned or
photographed with the same settings, only written (or captured) otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import cv2
import numpy as np

from synth.degrade import Degraded
from synth.handwriting import Writer

Rendering = Literal["default", "small-offcentre", "thin-faint", "thick-marker", "blocky", "other-scanner"]
RENDERINGS: tuple[str, ...] = ("default", "small-offcentre", "thin-faint", "thick-marker", "blocky", "other-scanner")

FAINT_INKS = [(60, 80, 170), (75, 90, 160), (85, 85, 100)]  # a drying blue ballpoint, a grey pen
MARKER_INKS = [(18, 18, 22), (25, 30, 90), (30, 30, 40)]


def restyle(w: Writer, rendering: str, rng: np.random.Generator) -> Writer:
    """The writer with this rendering's habits (unchanged for "default" and "other-scanner")."""
    if rendering == "small-offcentre":
        ang = rng.uniform(0, 2 * np.pi)
        r = rng.uniform(0.12, 0.2)
        return dataclasses.replace(w, size=float(rng.uniform(0.4, 0.55)),
                                   bias=(float(np.cos(ang) * r), float(np.sin(ang) * r * 0.8)),
                                   jitter=float(rng.uniform(0.03, 0.06)), id=f"{w.id}:render=small-offcentre")
    if rendering == "thin-faint":
        return dataclasses.replace(w, width_frac=float(rng.uniform(0.04, 0.055)),
                                   strength=float(rng.uniform(0.7, 0.85)),
                                   ink=FAINT_INKS[int(rng.integers(len(FAINT_INKS)))], id=f"{w.id}:render=thin-faint")
    if rendering == "thick-marker":
        return dataclasses.replace(w, width_frac=float(rng.uniform(0.15, 0.21)), strength=0.97,
                                   size=float(rng.uniform(0.7, 0.9)),
                                   ink=MARKER_INKS[int(rng.integers(len(MARKER_INKS)))],
                                   id=f"{w.id}:render=thick-marker")
    if rendering == "blocky":
        return dataclasses.replace(w, blocky=int(rng.integers(13, 19)), id=f"{w.id}:render=blocky")
    return w


def other_pipeline(d: Degraded, quality: str, rng: np.random.Generator) -> Degraded:
    """Another capture pipeline's look on a degraded page; geometry untouched."""
    if quality == "fax" or d.mode == "1":
        return d  # already bilevel: a fax is a fax
    img = d.image
    if quality == "scan":  # an office MFP: sharpening halo, clipped levels, then its own binarisation or JPEG
        f = img.astype(np.float32)
        blur = cv2.GaussianBlur(f, (0, 0), rng.uniform(1.0, 2.0))
        f = f + rng.uniform(0.8, 1.6) * (f - blur)
        black, white = rng.uniform(25, 60), rng.uniform(200, 235)
        out = np.clip((f - black) * 255 / (white - black), 0, 255).astype(np.uint8)
        if rng.random() < 0.4:
            block = int(rng.choice([25, 35, 51]))
            out = cv2.adaptiveThreshold(out, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block,
                                        float(rng.uniform(8, 18)))
            return Degraded(out, "1", None)
        return Degraded(out, "L", int(rng.integers(30, 55)))
    # A phone's processing: noise smoothed away, local contrast ("HDR"), sharpening, heavy JPEG.
    out = cv2.bilateralFilter(img, 5, float(rng.uniform(20, 40)), 3)
    lab = cv2.cvtColor(out, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=float(rng.uniform(1.5, 3.0)), tileGridSize=(8, 8))
    lab[..., 0] = clahe.apply(lab[..., 0])
    out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    blur = cv2.GaussianBlur(out, (0, 0), 1.5)
    out = cv2.addWeighted(out, 1.8, blur, -0.8, 0)
    return Degraded(out, "RGB", int(rng.integers(45, 65)))
