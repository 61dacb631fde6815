"""Which test-time moves pay: the packaged pair re-reading its doubtful boxes moved, scaled or turned.

    .venv/bin/python scripts/jitter_variants.py            (the model card's test pages)

Reads the harvested test-split page crops (``scripts/harvest_crops.py``; default the model card's
``test-mixed`` and ``test-scan``) with the packaged pair exactly as ``extract.digits.DigitReader``
does WITHOUT its test-time shifts, then, for the boxes the pair leaves below ``--below``, averages
the pair's logits over each set of moved crops (the unshifted reading counted twice) and counts the
digit errors. Argmax only: no temperature is fitted here, so coverage is not reported (the packaged
shifts' temperature and threshold come from ``train_digits.py``). The set the packaged reader uses
is ``training.calibrate.JITTER_SHIFTS`` ("diagonal 4").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reader_floor import PAGES, load_crops  # noqa: E402

from extract.digits import DigitReader, shifted, softmax, symbol_probs, with_ink_evidence  # noqa: E402

Move = tuple[int, int, float, float]  # dx, dy (pixels), scale, rotation (degrees)
VARIANTS: dict[str, list[Move]] = {
    "straight 4": [(1, 0, 1, 0), (-1, 0, 1, 0), (0, 1, 1, 0), (0, -1, 1, 0)],
    "diagonal 4": [(1, 1, 1, 0), (-1, -1, 1, 0), (1, -1, 1, 0), (-1, 1, 1, 0)],
    "diagonal 2": [(1, 1, 1, 0), (-1, -1, 1, 0)],
    "scale 0.92 / 1.08": [(0, 0, 0.92, 0), (0, 0, 1.08, 0)],
    "rotate -4 / +4 degrees": [(0, 0, 1, 4), (0, 0, 1, -4)],
    "straight 4 + scales": [(1, 0, 1, 0), (-1, 0, 1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 0, 0.92, 0), (0, 0, 1.08, 0)],
    "all 8 one-pixel moves": [(1, 0, 1, 0), (-1, 0, 1, 0), (0, 1, 1, 0), (0, -1, 1, 0),
                              (1, 1, 1, 0), (-1, -1, 1, 0), (1, -1, 1, 0), (-1, 1, 1, 0)],
}


def moved(crops: np.ndarray, m: Move) -> np.ndarray:
    dx, dy, scale, angle = m
    if scale == 1 and angle == 0:
        return shifted(crops, dx, dy)
    s = crops.shape[1]
    M = cv2.getRotationMatrix2D(((s - 1) / 2, (s - 1) / 2), angle, scale)
    return np.stack([cv2.warpAffine(c, M, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                     for c in crops])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=Path, nargs="+", default=[PAGES / "test-mixed.npz", PAGES / "test-scan.npz"])
    ap.add_argument("--below", type=float, default=0.9995, help="re-read the boxes the pair leaves below this")
    args = ap.parse_args()
    missing = [str(f) for f in args.pages if not f.exists()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)} (harvest test pages with `make model`'s first steps)")
    d = load_crops(args.pages)
    x, y = d["x"], d["y"]
    r = DigitReader()
    if r.second_path is None:
        sys.exit("the packaged model has no second opinion")
    first = r.logits(x)
    doubt = np.flatnonzero(symbol_probs(softmax(first, r.temperature)).max(1) < r.gate)
    pair = (first[doubt] + r.logits(x[doubt], second=True)) / 2
    p = softmax(first, r.temperature)
    p[doubt] = softmax(pair, r.second_temperature)
    again = np.flatnonzero(symbol_probs(with_ink_evidence(p[doubt], x[doubt])).max(1) < args.below)
    digits = y < 10

    def errors(q: np.ndarray) -> str:
        wrong = (q.argmax(1) != y) & digits
        return f"{int(wrong.sum())} | " + " | ".join(str(int(wrong[d['source'] == i].sum())) for i in (0, 1, 2))

    print(f"{len(x)} boxes, {int(digits.sum())} digits; the pair doubts {len(doubt)}, leaves {len(again)} "
          f"below {args.below}\n")
    print("| moves | crops read again per box | digit errors | mnist | ardis | strokes | ms per 1,000 boxes re-read |")
    print("|---|---|---|---|---|---|---|")
    print(f"| none (the pair) | 0 | {errors(with_ink_evidence(p, x))} | - |")
    rows = doubt[again]
    for name, moves in VARIANTS.items():
        t0 = time.perf_counter()
        total = 2 * pair[again]
        for m in moves:
            c = moved(x[rows], m)
            total = total + (r.logits(c) + r.logits(c, second=True)) / 2
        ms = 1000 * (time.perf_counter() - t0) / max(len(rows), 1) * 1000
        q = p.copy()
        q[rows] = softmax(total / (2 + len(moves)), r.second_temperature)
        print(f"| {name} | {len(moves)} | {errors(with_ink_evidence(q, x))} | {ms:.0f} |")


if __name__ == "__main__":
    main()
