"""Writers: one consistent handwriting per generated form.

A form is filled by one officer, so every digit on it comes from one source (MNIST, ARDIS, a
folder of PNGs, or the procedural stroke hand) and is normalised to that officer's habits:
stroke width, slant, ink colour, digit size and where in the box they tend to write. Digits
from the data sets are deslanted (image moments) and re-slanted to the writer's angle, and
their strokes thickened or thinned to the writer's width, so a form looks like one hand even
though the samples come from many people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from synth.digit_sources import (
    SOURCES,
    DigitSet,
    Split,
    default_mnist_train_path,
    load_mnist_train,
    load_png_dir,
    load_sources,
)
from synth.strokes import StrokeHand

# Ballpoint inks (RGB): blues and near-blacks, as KPPS officers use.
INKS = {
    "blue": [(28, 42, 128), (20, 50, 150), (40, 55, 120), (30, 35, 105)],
    "black": [(32, 32, 38), (45, 42, 50), (25, 28, 35)],
}


@cache
def _sources(hw_dir: str | None, split: Split) -> tuple[DigitSet, ...]:
    """Digit sets available to writers (loaded once per process)."""
    if hw_dir is None:
        return ()
    root = Path(hw_dir)
    if all((root / f).exists() for f in ("mnist-t10k-images-idx3-ubyte.gz", "ardis-iv-train.npz")):
        return tuple(load_sources(root, SOURCES, split))
    return (load_png_dir(root, split),)


@cache
def _label_index(hw_dir: str | None, split: Split) -> tuple[dict[str, np.ndarray], ...]:
    return tuple({lab: np.flatnonzero(s.labels == lab) for lab in np.unique(s.labels)}
                 for s in _sources(hw_dir, split))


# Sources a writer gets only when a batch names them (``--source``), never in the default mix:
# "mnist-train" (``synth.digit_sources.fetch_mnist_train``), hands no packaged model was trained on.
NAMED_ONLY = ("mnist-train",)


@cache
def named_source(name: str) -> tuple[DigitSet, dict[str, np.ndarray]]:
    """A named-only source's digits and their index by label; ValueError (with what to do) when it
    is unknown or was never fetched."""
    path = default_mnist_train_path()
    if name != "mnist-train" or not path.exists():
        raise ValueError(f"handwriting source {name!r} is not available: run scripts/unseen_writers.py "
                         f"once to fetch it (expected {path})")
    ds = load_mnist_train(path)
    return ds, {lab: np.flatnonzero(ds.labels == lab) for lab in np.unique(ds.labels)}


def available_sources(hw_dir: Path | None, split: Split = "test") -> list[str]:
    """Source names a writer can be drawn from; "strokes" (procedural) is always there."""
    return [s.source for s in _sources(str(hw_dir) if hw_dir else None, split)] + ["strokes"]


@dataclass
class Writer:
    """One officer's hand. ``source`` is a data set name or "strokes"."""

    id: str
    source: str
    ink: tuple[int, int, int]
    width_frac: float  # stroke width / glyph height
    slant_deg: float  # positive leans right
    size: float  # glyph height / box height
    bias: tuple[float, float]  # habitual offset from the box centre, fractions of the box
    jitter: float
    lead: str  # what leading empty boxes get: "X", "-", "" (blank) or "0"
    bubble_lead: str  # bubbles under leading empty boxes: "0" (the zero bubble) or "" (none)
    bubble_fill: float  # how much of a bubble the blackening covers
    hand: StrokeHand
    hw_dir: str | None = None
    split: Split = "test"
    _set: int = field(default=-1)
    strength: float = 0.93  # ink coverage of a stroke's core (faint pens: less)
    blocky: int = 0  # > 0: every glyph drawn this many pixels tall, then blown up (pixelated strokes)

    def glyph(self, label: str, height: int, rng: np.random.Generator) -> np.ndarray:
        """Float alpha mask (0..1) of ``label`` in this hand, about ``height`` px tall."""
        g = self._glyph(label, height, rng)
        if self.blocky and g.shape[0] > self.blocky:
            # A low-resolution glyph upscaled without smoothing (a handwriting source digitised
            # coarsely): hard-edged blocks of ink, as the unseen "blocky" source is.
            lo = (max(1, round(g.shape[1] * self.blocky / g.shape[0])), self.blocky)
            small = (cv2.resize(g, lo, interpolation=cv2.INTER_AREA) > 0.3).astype(np.float32)
            g = cv2.resize(small, (g.shape[1], g.shape[0]), interpolation=cv2.INTER_NEAREST)
        return g

    def _glyph(self, label: str, height: int, rng: np.random.Generator) -> np.ndarray:
        width = max(1.0, self.width_frac * height)
        if self.source in NAMED_ONLY:
            ds, index = named_source(self.source)
        elif self._set >= 0:
            ds, index = _sources(self.hw_dir, self.split)[self._set], _label_index(self.hw_dir, self.split)[self._set]
        else:
            ds, index = None, {}
        if ds is None or label not in index:
            g = self.hand.glyph(label, height, width, rng)
            return _shear(g, self.slant_deg + rng.normal(0, 2.0))
        idx = index[label]
        for _ in range(6):
            img = ds.images[int(idx[int(rng.integers(len(idx)))])]
            g = _normalise(img, height, width, self.slant_deg + rng.normal(0, 2.0))
            # A few samples come out far wider than tall (scribbles, extreme slants): a person
            # would not write that in a box, and squeezing it into the box leaves a blob.
            if g.shape[1] <= 1.3 * g.shape[0]:
                break
        return g


def make_writer(rng: np.random.Generator, hw_dir: Path | None, split: Split = "test",
                source: str | None = None) -> Writer:
    key = str(hw_dir) if hw_dir else None
    names = available_sources(hw_dir, split)
    # Real handwriting most of the time when we have it; the stroke hand keeps some variety.
    if source is None:
        if len(names) == 1:
            source = "strokes"
        else:
            p = np.array([0.85 / (len(names) - 1)] * (len(names) - 1) + [0.15])
            source = names[int(rng.choice(len(names), p=p))]
    if source in NAMED_ONLY:
        named_source(source)  # fails here, before any page is drawn, when it was never fetched
        set_idx = -1
    elif source == "strokes" or source in names:
        set_idx = names.index(source) if source != "strokes" else -1
    else:
        raise ValueError(f"handwriting source {source!r} is not available ({', '.join([*names, *NAMED_ONLY])})")
    colour = "blue" if rng.random() < 0.65 else "black"
    inks = INKS[colour]
    lead = str(rng.choice(["X", "-", "", "0"], p=[0.4, 0.25, 0.27, 0.08]))
    w = Writer(
        id=f"{source}:{int(rng.integers(1 << 30)):08x}",
        source=source,
        ink=inks[int(rng.integers(len(inks)))],
        width_frac=float(rng.uniform(0.06, 0.12)),
        slant_deg=float(rng.normal(6, 8)),
        size=float(rng.uniform(0.55, 0.92)),
        bias=(float(rng.normal(0, 0.07)), float(rng.normal(0, 0.06))),
        jitter=float(rng.uniform(0.02, 0.07)),
        lead=lead,
        bubble_lead=str(rng.choice(["0", ""], p=[0.5, 0.5])),
        bubble_fill=float(rng.uniform(0.7, 1.0)),
        hand=StrokeHand(rng),
        hw_dir=key,
        split=split,
        _set=set_idx,
    )
    w.id = f"{w.id}:lead={lead or 'blank'}:ink={colour}"
    return w


def _shear(mask: np.ndarray, slant_deg: float) -> np.ndarray:
    h, w = mask.shape
    t = float(np.tan(np.radians(slant_deg)))
    extra = int(np.ceil(abs(t) * h))
    m = np.array([[1, -t, extra / 2 + t * h / 2], [0, 1, 0]], np.float32)
    return cv2.warpAffine(mask, m, (w + extra, h), flags=cv2.INTER_LINEAR)


def _normalise(img: np.ndarray, height: int, width_px: float, slant_deg: float) -> np.ndarray:
    """MNIST-style 28x28 white-on-black digit -> writer's size, slant and stroke width."""
    f = img.astype(np.float32) / 255.0
    # Scanned archive digits carry specks and bits of neighbouring strokes: keep the digit's
    # main components only, so the crop (and so the size) is the digit's.
    n, lab, stats, _ = cv2.connectedComponentsWithStats((f > 0.3).astype(np.uint8), connectivity=8)
    if n > 2:
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= 0.2 * areas.max()) + 1
        f = f * cv2.dilate(np.isin(lab, keep).astype(np.uint8), np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(f > 0.3)
    if len(ys) == 0:
        return np.zeros((height, max(1, height // 2)), np.float32)
    f = f[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    # Remove the writer's own slant (second-order moments), keep ours.
    mom = cv2.moments(f)
    skew = mom["mu11"] / mom["mu02"] if mom["mu02"] > 1e-3 else 0.0
    skew = float(np.clip(skew, -1.0, 1.0))
    s = height / f.shape[0]
    big = cv2.resize(f, (max(1, int(round(f.shape[1] * s))), height), interpolation=cv2.INTER_CUBIC)
    big = _shear(big, float(np.degrees(np.arctan(skew))) + slant_deg) if abs(skew) > 0 or slant_deg else big
    pad = int(np.ceil(width_px)) + 2
    big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    mask = (big > 0.45).astype(np.uint8)
    area = int(mask.sum())
    if area == 0:
        return big.clip(0, 1)
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perim = sum(cv2.arcLength(c, True) for c in contours)
    w0 = 2.0 * area / max(perim, 1.0)
    diff = width_px - w0
    if diff > 1.0:
        k = int(round(diff)) + 1
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    elif diff < -1.5:
        k = int(round(-diff)) + 1
        thin = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        if thin.sum() > 0.45 * area:  # never erase the digit
            mask = thin
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.6)
