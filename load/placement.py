"""Measure registration against the generator's truth: where each digit box was placed.

``python -m load.placement BATCH [--limit N] [--no-read] [--json OUT]`` registers every page of a
generated batch (``truth.jsonl``) exactly as the reader does (``decode_file`` then
``register_page``) and compares the box centres the page map puts each digit box at with
``TruthPage.boxes_px`` (the generator's exact forward model, scaled to the decoded image). It
reports the registered share, the rejection reasons, the placement error (median / p90 / max, in
pixels and as a share of the box side) of the page map and, for comparison, of its homography
alone, the share of boxes found (quality >= 0.5), the register CPU time per page
(``time.process_time``, one core) and, unless ``--no-read``, the digit accuracy on the registered
pages (the reader's top symbol against what the box holds; blank and X merged as "no digit").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from extract.decode import decode_file
from extract.geometry import apply_h, page_map
from extract.register import RegisterFailure, register_page
from schemas.layout import load_layout
from schemas.settings import Limits, ReadSettings
from schemas.truth import TruthForm


def _truth_symbol(box: str) -> int:
    return int(box) if box.isdigit() else 10  # blank, X and dash all mean "no digit"


def measure(batch: Path, limit: int | None = None, read: bool = True) -> dict:
    reader = None
    if read:
        from extract.digits import DigitReader, symbol_probs
        from extract.read_page import read_fields

        reader = DigitReader()
    forms = [TruthForm.model_validate_json(line) for line in (batch / "truth.jsonl").read_text().splitlines()
             if line.strip()]
    pages = [(f, tp) for f in forms for tp in f.pages]
    if limit:
        pages = pages[:limit]
    reasons: Counter[str] = Counter()
    err_map: list[float] = []
    err_h: list[float] = []
    err_found: list[float] = []  # boxes placed with quality >= 0.5 (the others read as unsure)
    rel_map: list[float] = []
    cpu: list[float] = []
    found = boxes = misplaced = 0
    digits_ok = digits = 0
    per_page = []
    for form, tp in pages:
        img = next((p for p in decode_file(batch / tp.file, Limits(), ReadSettings()) if p.index == tp.page_index),
                   None)
        if img is None:
            reasons["not_decoded"] += 1
            continue
        c0 = time.process_time()
        reg = register_page(img.gray, expected=form.form_type)
        cpu.append(time.process_time() - c0)
        row: dict = {"file": tp.file, "page": tp.page, "cpu_ms": round(cpu[-1] * 1000, 1),
                     "conditions": tp.conditions}
        if isinstance(reg, RegisterFailure):
            reasons[reg.reason.value] += 1
            row.update(reason=reg.reason.value, detail=reg.detail)
            per_page.append(row)
            continue
        reasons["registered"] += 1
        layout = load_layout(reg.form_type).pages[reg.page - 1]
        pmap = page_map(reg)
        H = np.asarray(reg.homography, np.float64)
        s = img.scale
        if (batch / tp.file).suffix.lower() == ".pdf" and tp.dpi:
            # truth is in pixels of the image embedded at tp.dpi; the page was rendered at its own dpi
            from extract._exec.pdftoppm import pdf_info

            w_pt = pdf_info(batch / tp.file, max_pages=tp.page_index + 1).page_sizes_pt[tp.page_index][0]
            s = img.gray.shape[1] / (w_pt / 72 * tp.dpi)
        page_err = []
        for f in layout.fields:
            if f.id not in tp.boxes_px:
                continue
            truth = np.asarray(tp.boxes_px[f.id], np.float64)
            t_xy = (truth[:, :2] + 0.5) * s - 0.5
            side = truth[:, 2] * s
            lay = np.array([[b.cx, b.cy] for b in f.boxes])
            e = np.hypot(*(pmap.to_image(lay) - t_xy).T)
            err_map += e.tolist()
            rel_map += (e / side).tolist()
            page_err += e.tolist()
            err_h += np.hypot(*(apply_h(H, lay) - t_xy).T).tolist()
            q = reg.box_quality.get(f.id, [1.0] * len(f.boxes))
            found += sum(x >= 0.5 for x in q)
            err_found += [float(x) for x, qq in zip(e, q, strict=False) if qq >= 0.5]
            # found (quality >= 0.5) yet a fifth of a box side or more off: the dangerous kind
            misplaced += int(sum(x >= 0.5 and r > 0.2 for x, r in zip(q, e / side, strict=False)))
            boxes += len(f.boxes)
        row.update(method=reg.method, marks=reg.marks_found, median_px=round(float(np.median(page_err)), 3)
                   if page_err else None, max_px=round(float(np.max(page_err)), 3) if page_err else None)
        if reader is not None:
            readings = read_fields(img.gray, pmap, layout, reader, box_quality=reg.box_quality)
            for r in readings:
                want = form.boxes.get(r.field_id)
                if not want:
                    continue
                sp = symbol_probs(np.array([d.probs for d in r.digits]))
                for got, w in zip(np.argmax(sp, axis=1), want, strict=False):
                    digits += 1
                    digits_ok += int(int(got) == _truth_symbol(w))
        per_page.append(row)

    def stats(v: list[float]) -> dict:
        if not v:
            return {}
        a = np.asarray(v)
        return {"median": round(float(np.median(a)), 3), "p90": round(float(np.percentile(a, 90)), 3),
                "max": round(float(a.max()), 3)}

    n = len(pages)
    return {
        "batch": str(batch), "pages": n, "registered": reasons.get("registered", 0),
        "registered_share": round(reasons.get("registered", 0) / max(n, 1), 4),
        "reasons": dict(reasons.most_common()),
        "placement_px": stats(err_map), "placement_box_side": stats(rel_map), "homography_only_px": stats(err_h),
        "placement_found_px": stats(err_found),
        "boxes_found_share": round(found / max(boxes, 1), 4), "boxes_found_misplaced": misplaced,
        "register_cpu_ms": {"mean": round(1000 * float(np.mean(cpu)), 1),
                            "median": round(1000 * float(np.median(cpu)), 1),
                            "p90": round(1000 * float(np.percentile(cpu, 90)), 1)} if cpu else {},
        "digit_accuracy": round(digits_ok / digits, 4) if digits else None, "digits": digits,
        "per_page": per_page,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load.placement", description=__doc__.split("\n\n")[0])
    ap.add_argument("batch", type=Path, help="a generated batch folder (with truth.jsonl)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N pages")
    ap.add_argument("--no-read", action="store_true", help="placement only, no digit reading")
    ap.add_argument("--json", type=Path, default=None, help="write the full result (per page too) here")
    ap.add_argument("--pages", action="store_true", help="print one line per page")
    a = ap.parse_args(argv)
    if not (a.batch / "truth.jsonl").is_file():
        print(f"error: {a.batch}/truth.jsonl not found: not a generated batch", file=sys.stderr)
        return 2
    import cv2

    cv2.setNumThreads(1)  # one core, as a worker of the pipeline runs
    res = measure(a.batch, a.limit, read=not a.no_read)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    if a.pages:
        for r in res["per_page"]:
            print(json.dumps({k: v for k, v in r.items() if k != "conditions"}))
    print(json.dumps({k: v for k, v in res.items() if k != "per_page"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
