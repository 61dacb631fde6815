"""Handwritten digits written neatly into clean printed boxes, read image by image.

Page tests reuse each handwriting image in several renderings, so one image a reader is sure of and
wrong about can count several times there. Here every image is rendered the same few ways, and the
images the reader accepts as the wrong digit at every resolution are counted once each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from extract.digits import symbol_probs
from training.augment import render_clean_boxes
from training.calibrate import wilson_upper

# Pixels per layout unit: 24-unit boxes at 24, 38 and 72 px (a 150-dpi scan to a close photo).
CLEAN_PX = (1.0, 1.6, 3.0)


def per_image(predict: Callable[[np.ndarray], np.ndarray], threshold: float, images: np.ndarray,
              labels: np.ndarray) -> dict:
    """Each image (uint8 N x 28 x 28, white ink on black; ``labels`` 0-9) in a clean box at every
    ``CLEAN_PX``, read by ``predict`` (crops -> 12 class probabilities). Returns the error per
    accepted digit over all renderings (accepted: merged-symbol probability >= ``threshold``, as
    ``read_number`` decides), with its Wilson 95% upper bound, and ``sure_and_wrong``: the images
    accepted as the wrong symbol at every resolution, with their confusions ("6 as 0": 3)."""
    y = np.asarray(labels).astype(int)
    always = np.ones(len(y), bool)
    accepted = wrong = 0
    read = np.zeros(len(y), int)
    for px in CLEAN_PX:
        sp = symbol_probs(predict(render_clean_boxes(images, px, seed=int(px * 10))))
        acc = sp.max(1) >= threshold
        bad = acc & (sp.argmax(1) != y)
        accepted, wrong = accepted + int(acc.sum()), wrong + int(bad.sum())
        always &= bad
        read = sp.argmax(1)
    confusions = Counter(f"{y[i]} as {'no digit' if read[i] == 10 else read[i]}" for i in np.flatnonzero(always))
    return {"images": int(len(y)), "accepted": accepted, "wrong": wrong,
            "error": wrong / accepted if accepted else None,
            "upper95": float(wilson_upper(np.array(wrong), np.array(accepted))) if accepted else None,
            "sure_and_wrong": int(always.sum()), "confusions": dict(confusions.most_common())}
