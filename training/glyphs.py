"""Synthetic handwriting-like digit sources for training: handwriting fonts and the procedural
stroke hand, as 28x28 white-on-black images in the MNIST convention (``synth.digit_sources``).

Why: a model trained on one or two archives of handwriting learns those writers' habits (ARDIS's
flagged 1s, MNIST's American 7s) and is confidently wrong on a new hand. Digits drawn by many
procedural writers and set in several script fonts widen what "a 4" looks like without using any
real writer, so they are allowed in every cross-source model (issue #10).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from synth.strokes import StrokeHand

# Handwriting-like fonts from Debian (installed by `make model`): fonts-dancingscript, fonts-kristi,
# fonts-comic-neue, fonts-humor-sans, fonts-breip. Missing files are skipped.
FONT_FILES = (
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf",
    "/usr/share/fonts/opentype/dancingscript/DancingScript-Bold.otf",
    "/usr/share/fonts/truetype/kristi/Kristi.ttf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Light.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Bold.otf",
    "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
    "/usr/share/fonts/truetype/breip/Breip.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
FONT_PACKAGES = ("fonts-dancingscript", "fonts-kristi", "fonts-comic-neue", "fonts-humor-sans", "fonts-breip")


def available_fonts() -> list[Path]:
    return [Path(f) for f in FONT_FILES if Path(f).is_file()]


def to_mnist(mask: np.ndarray) -> np.ndarray | None:
    """A float ink mask (any size, 0..1) -> 28x28 uint8, the digit fitted into 20x20 and centred by
    its centre of mass, as MNIST was normalised."""
    ys, xs = np.nonzero(mask > 0.1)
    if len(xs) == 0:
        return None
    m = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = m.shape
    s = 20.0 / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    m = cv2.resize(m.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((28, 28), np.float32)
    tot = m.sum()
    cy, cx = (np.arange(nh) @ m.sum(1)) / tot, (np.arange(nw) @ m.sum(0)) / tot
    oy, ox = int(round(14 - cy)), int(round(14 - cx))
    oy, ox = min(max(oy, 0), 28 - nh), min(max(ox, 0), 28 - nw)
    out[oy:oy + nh, ox:ox + nw] = m
    return np.clip(out * 255, 0, 255).astype(np.uint8)


def _font_mask(font: ImageFont.FreeTypeFont, ch: str) -> np.ndarray:
    img = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(img).text((30, 10), ch, fill=255, font=font)
    return np.asarray(img, np.float32) / 255.0


def font_digits(n_per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_digit`` images of every digit set in the available fonts, each varied: weight
    (erode/dilate at 100 px), slant, rotation, aspect and a mild elastic wobble."""
    fonts = [ImageFont.truetype(str(f), 100) for f in available_fonts()]
    if not fonts:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, "<U1")
    rng = np.random.default_rng(seed)
    base = {(i, d): _font_mask(f, str(d)) for i, f in enumerate(fonts) for d in range(10)}
    imgs, labs = [], []
    for d in range(10):
        for _ in range(n_per_digit):
            m = base[(int(rng.integers(len(fonts))), d)]
            k = int(rng.integers(-4, 9))
            if k > 0:
                m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
            elif k < 0:
                m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (-k + 1, -k + 1)))
            m = warp_glyph(rng, m)
            out = to_mnist(m)
            if out is not None:
                imgs.append(out)
                labs.append(str(d))
    return np.stack(imgs), np.array(labs)


def stroke_digits(n_per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_digit`` images of every digit, each from a new procedural writer."""
    rng = np.random.default_rng(seed)
    imgs, labs = [], []
    for d in range(10):
        for _ in range(n_per_digit):
            hand = StrokeHand(rng)
            m = hand.glyph(str(d), 80, float(rng.uniform(4, 14)), rng)
            out = to_mnist(warp_glyph(rng, m))
            if out is not None:
                imgs.append(out)
                labs.append(str(d))
    return np.stack(imgs), np.array(labs)


def warp_glyph(rng: np.random.Generator, m: np.ndarray) -> np.ndarray:
    """Slant, rotation, aspect and an elastic wobble of a large glyph mask."""
    h, w = m.shape
    pad = max(h, w) // 3
    m = cv2.copyMakeBorder(m, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    h, w = m.shape
    sh, ang, asp = rng.uniform(-0.35, 0.35), math.radians(rng.uniform(-12, 12)), rng.uniform(0.75, 1.25)
    c, s = math.cos(ang), math.sin(ang)
    A = np.array([[c, -s], [s, c]]) @ np.array([[asp, sh], [0, 1]])
    ctr = np.array([w / 2, h / 2])
    M = np.hstack([A, (ctr - A @ ctr)[:, None]]).astype(np.float32)
    m = cv2.warpAffine(m, M, (w, h), flags=cv2.INTER_LINEAR)
    return elastic(rng, m, alpha=rng.uniform(0.0, 0.06) * h)


def elastic(rng: np.random.Generator, m: np.ndarray, alpha: float, grid: int = 4) -> np.ndarray:
    """Smooth random displacement (Simard et al. 2003, on a coarse grid): ``alpha`` px at most."""
    if alpha <= 0:
        return m
    h, w = m.shape
    dx = cv2.resize(rng.uniform(-1, 1, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(rng.uniform(-1, 1, (grid, grid)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(m, xx + alpha * dx, yy + alpha * dy, cv2.INTER_LINEAR, borderValue=0)
