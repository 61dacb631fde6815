"""Baseline reader: Tesseract on every digit box, one process per box, over the same registered pages.

This is what "just OCR the boxes" costs and gets: each box is cut from the registered page (the same
homography pindai uses), its printed border trimmed, and sent to ``tesseract --psm 10`` (one
character) with a digit whitelist; nothing recognised = an empty box. Compared box by box with the
generator's truth, like ``load.evaluate``: 12-class accuracy (it can never say "X") and symbol
accuracy (X and blank merged into "no digit", which is fair to it).

Usage: python scripts/baseline_tesseract.py BATCH [--pages N] [--workers 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from extract._exec.errors import ToolError
from extract._exec.tesseract import ocr_words
from extract.decode import decode_file
from extract.digits import crop_boxes
from extract.register import RegisterFailure, register_page
from load.evaluate import load_truth, truth_class
from schemas.layout import load_layout
from schemas.records import CLASS_BLANK, CLASS_NODIGIT
from schemas.settings import Settings

CROP = 64  # px per box side handed to Tesseract (it likes glyphs 20-40 px high)
TRIM = 0.14  # of the box side cut from each edge: the printed border is not a "1"
PAD = 16  # white margin around the glyph


@dataclass
class BaselineResult:
    pages: int = 0
    boxes: int = 0
    correct: int = 0  # 12 classes
    symbols_correct: int = 0  # X and blank merged
    tesseract_seconds: float = 0.0  # wall time of the Tesseract calls
    prepare_seconds: float = 0.0  # decode + register + crop (the same work pindai does before reading)
    workers: int = 1
    failures: int = 0  # pages that did not register (skipped)
    calls_failed: int = 0
    per_page: list[dict] = field(default_factory=list)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.boxes if self.boxes else None

    @property
    def symbol_accuracy(self) -> float | None:
        return self.symbols_correct / self.boxes if self.boxes else None

    @property
    def seconds_per_box(self) -> float | None:
        return self.tesseract_seconds / self.boxes if self.boxes else None

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("per_page")
        d.update(accuracy=self.accuracy, symbol_accuracy=self.symbol_accuracy, seconds_per_box=self.seconds_per_box)
        return d


def box_image(crop: np.ndarray) -> np.ndarray:
    """A CROP x CROP box (border at its edges) -> the inside, on a white margin."""
    t = int(round(TRIM * crop.shape[0]))
    inner = crop[t: crop.shape[0] - t, t: crop.shape[1] - t]
    return cv2.copyMakeBorder(inner, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=255)


def read_box(img: np.ndarray, timeout: float = 20.0) -> int | None:
    """One Tesseract process on one box -> class index (0-9, or blank); None when the call failed."""
    try:
        words = ocr_words(img, lang="eng", psm=10, timeout=timeout, whitelist="0123456789")
    except ToolError:
        return None
    text = "".join(w.text for w in words).strip()
    return int(text[0]) if text[:1].isdigit() else CLASS_BLANK


def _symbol(c: int) -> int:
    return CLASS_NODIGIT if c == CLASS_BLANK else c


def page_jobs(batch: Path, max_pages: int) -> list[tuple[Path, int, str, dict[str, list[str]]]]:
    """(file, page index, quality, truth boxes of the form) for the first ``max_pages`` pages."""
    jobs = []
    for t in load_truth(batch / "truth.jsonl"):
        for p in t.pages:
            if len(jobs) < max_pages:
                jobs.append((batch / p.file, p.page_index, p.quality, t.boxes))
    return jobs


def run_baseline(batch: Path, max_pages: int = 6, workers: int = 2) -> BaselineResult:
    """Read up to ``max_pages`` pages of ``batch`` box by box with Tesseract (``workers`` at once)."""
    settings = Settings()
    res = BaselineResult(workers=workers)
    decoded: dict[Path, dict[int, np.ndarray]] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, index, quality, truth_boxes in page_jobs(batch, max_pages):
            t0 = time.perf_counter()
            if path not in decoded:
                decoded = {path: {pg.index: pg.gray for pg in decode_file(path, settings.limits, settings.read)}}
            gray = decoded[path][index]
            reg = register_page(gray)
            if isinstance(reg, RegisterFailure):
                res.failures += 1
                continue
            layout = load_layout(reg.form_type).pages[reg.page - 1]
            fields = [f for f in layout.fields if f.id in truth_boxes and len(truth_boxes[f.id]) == len(f.boxes)]
            rects = [r for f in fields for r in f.boxes]
            crops = crop_boxes(gray, np.asarray(reg.homography, np.float64), rects, size=CROP)
            images = [box_image(c) for c in crops]
            want = [truth_class(b) for f in fields for b in truth_boxes[f.id]]
            t1 = time.perf_counter()
            got = list(pool.map(read_box, images))
            t2 = time.perf_counter()
            res.prepare_seconds += t1 - t0
            res.tesseract_seconds += t2 - t1
            res.pages += 1
            ok = sym = 0
            for w, g in zip(want, got, strict=True):
                if g is None:
                    res.calls_failed += 1
                    g = CLASS_BLANK
                ok += int(w == g)
                sym += int(_symbol(w) == _symbol(g))
            res.boxes += len(want)
            res.correct += ok
            res.symbols_correct += sym
            res.per_page.append({"file": path.name, "page": reg.page, "quality": quality, "boxes": len(want),
                                 "correct": ok, "seconds": round(t2 - t1, 3)})
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("batch", type=Path, help="a generated batch (with truth.jsonl)")
    ap.add_argument("--pages", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    res = run_baseline(a.batch, a.pages, a.workers)
    out = res.as_dict()
    print(json.dumps(out, indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
