"""Base data for a model update: synthesized box crops, so fine-tuning on the stewards' crops does
not forget everything else the reader knows (numpy + OpenCV; no torch).

Digits come from the real handwriting in ``../shared/handwriting`` when it is there, split as
``scripts/train_digits.py`` splits it (test ``i % 5 == 0``, never trained on; calibration
``i % 20 == 1``; train the rest), and always from the procedural stroke hand (``synth.strokes``),
whose writers are seeded apart per split. Crops are rendered by ``training.augment.render_many``,
through the reader's own crop function; 10% no-digit marks and 8% blanks, as the base training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from synth.digit_sources import SOURCES, load_sources
from training.augment import CLASS_BLANK, CLASS_MARK, render_many
from training.glyphs import stroke_digits

Part = Literal["train", "calib", "test"]
_SEEDS = {"train": 101, "calib": 202, "test": 303}  # stroke-hand writers differ per split
MARK_FRAC, BLANK_FRAC = 0.10, 0.08


def digit_pool(part: Part, hw_dir: Path | None, strokes: int = 1500,
               sources: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images, labels, source names) of the handwriting in ``part``, plus ``strokes`` stroke-hand digits.
    ``sources``: only these real sources (the ones the model was trained on; None: all there are)."""
    images, labels, names = [], [], []
    if hw_dir is not None and Path(hw_dir).is_dir():
        for s in load_sources(Path(hw_dir), tuple(x for x in SOURCES if sources is None or x in sources)):
            i = np.arange(len(s))
            mask = {"test": i % 5 == 0, "calib": (i % 20 == 1), "train": (i % 5 != 0) & (i % 20 != 1)}[part]
            images.append(s.images[mask])
            labels.append(s.labels[mask].astype(np.int64))
            names.append(s.source)
    # one new procedural writer per digit, as the main training's synthetic source (training.glyphs)
    si, sl = stroke_digits(max(1, strokes // 10), _SEEDS[part])
    images.append(si)
    labels.append(sl.astype(np.int64))
    names.append("strokes")
    return np.concatenate(images), np.concatenate(labels), names


def render_set(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` crops: digits drawn at random from ``images``, plus marks and blanks."""
    rng = np.random.default_rng(seed)
    n_mark, n_blank = int(round(n * MARK_FRAC)), int(round(n * BLANK_FRAC))
    n_digit = max(0, n - n_mark - n_blank)
    idx = rng.integers(0, len(labels), n_digit)
    lab = np.concatenate([labels[idx], np.full(n_mark, CLASS_MARK), np.full(n_blank, CLASS_BLANK)])
    didx = np.concatenate([idx, np.zeros(n_mark + n_blank, np.int64)])
    order = rng.permutation(len(lab))
    lab, didx = lab[order], didx[order]
    x = render_many(seed, lab, didx, images, np.arange(len(labels)))
    return {"x": x, "y": lab.astype(np.int64)}


def base_set(part: Part, n: int, seed: int, hw_dir: Path | None,
             sources: list[str] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    images, labels, names = digit_pool(part, hw_dir, sources=sources)
    return render_set(images, labels, n, seed), names
