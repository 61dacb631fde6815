"""Harvest digit-box crops the way the reader sees them: generated pages -> decode -> register -> crop.

    .venv/bin/python scripts/harvest_crops.py --forms 60 --seed 101 --quality mixed --split test \
        --out build/digits-pages/test-mixed.npz
    .venv/bin/python scripts/harvest_crops.py --forms 300 --seed 1 --split train --form-types ppwp dpr \
        --out build/digits-pages/train-1.npz

Generates a batch with ``synth.generate`` (skipped when the batch folder already holds a
``truth.jsonl``), then for every page: ``extract.decode.decode_file`` ->
``extract.register.register_page`` -> ``extract.digits.crop_boxes`` for every field's boxes of the
registered page, labelled from ``truth.jsonl`` (``TruthForm.boxes``: "0"-"9" -> 0-9, "X"/"-" -> 10,
"" -> 11). Writes an .npz: ``x`` (N, 32, 32) uint8 crops, ``y`` labels, ``quality`` (0 scan,
1 photo, 2 fax), ``source`` (0 mnist, 1 ardis, 2 strokes, 3 other), ``form`` (form index in the
batch), ``page``, ``box`` (box index in its field, 0 = most significant), ``nbox`` (boxes in the
field), plus per-page registration stats. Pages that fail to register are counted, not cropped.

With ``--eval`` the packaged (or ``--model``) reader is measured on the crops: accuracy by quality
and source, and -- at the model's threshold -- per-box coverage and the share of forms whose every
box is accepted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUALITIES = ("scan", "photo", "fax")
SOURCES = ("mnist", "ardis", "strokes", "other")
LABEL = {**{str(d): d for d in range(10)}, "X": 10, "-": 10, "": 11}


def _page_crops(args: tuple[str, str, int]) -> dict:
    """Crops of one truth form (all its pages). Runs in a worker."""
    import cv2

    from extract.decode import decode_file
    from extract.digits import crop_boxes
    from extract.register import RegisterFailure, register_page
    from schemas.layout import load_layout
    from schemas.settings import Limits, ReadSettings
    from schemas.truth import TruthForm

    cv2.setNumThreads(1)
    batch_dir, line, form_idx = args
    t = TruthForm.model_validate_json(line)
    layout = load_layout(t.form_type)
    src_name = t.writer.split(":", 1)[0]
    src_name = "mnist" if src_name == "mnist-train" else src_name  # MNIST handwriting, other writers
    src = SOURCES.index(src_name) if src_name in SOURCES else 3
    xs, ys, qs, boxes, nboxes, pages = [], [], [], [], [], []
    regs: list[dict] = []
    files: dict[str, list] = {}
    for tp in t.pages:
        if tp.file not in files:
            try:
                files[tp.file] = [p.gray for p in decode_file(Path(batch_dir) / tp.file, Limits(), ReadSettings())]
            except Exception as exc:  # noqa: BLE001 -- counted, never fatal for a harvest
                files[tp.file] = []
                regs.append({"page": tp.page, "ok": False, "why": f"decode: {exc}"})
                continue
        imgs = files[tp.file]
        if tp.page_index >= len(imgs):
            continue
        gray = imgs[tp.page_index]
        reg = register_page(gray, expected=t.form_type)
        if isinstance(reg, RegisterFailure) or reg.page != tp.page or reg.form_type != t.form_type:
            why = str(reg.reason) if isinstance(reg, RegisterFailure) else f"as {reg.form_type.value} p{reg.page}"
            regs.append({"page": tp.page, "ok": False, "quality": tp.quality, "why": why})
            continue
        regs.append({"page": tp.page, "ok": True, "quality": tp.quality, "method": reg.method,
                     "err": reg.reprojection_error})
        page = layout.pages[tp.page - 1]
        rects = [r for f in page.fields for r in f.boxes]
        crops = crop_boxes(gray, np.asarray(reg.homography, np.float64), rects)
        lab = []
        for f in page.fields:
            truth = t.boxes[f.id]
            assert len(truth) == len(f.boxes), (f.id, truth)
            lab += [LABEL[c] for c in truth]
            boxes += list(range(len(f.boxes)))
            nboxes += [len(f.boxes)] * len(f.boxes)
        xs.append(crops)
        ys += lab
        qs += [QUALITIES.index(tp.quality)] * len(lab)
        pages += [tp.page] * len(lab)
    x = np.concatenate(xs) if xs else np.zeros((0, 32, 32), np.uint8)
    return {"x": x, "y": np.array(ys, np.int64), "quality": np.array(qs, np.int8),
            "source": np.full(len(ys), src, np.int8), "form": np.full(len(ys), form_idx, np.int32),
            "page": np.array(pages, np.int8), "box": np.array(boxes, np.int8), "nbox": np.array(nboxes, np.int8),
            "regs": regs}


def harvest(batch_dir: Path, workers: int = 2) -> dict[str, np.ndarray]:
    lines = [ln for ln in (batch_dir / "truth.jsonl").read_text("utf-8").splitlines() if ln.strip()]
    jobs = [(str(batch_dir), ln, i) for i, ln in enumerate(lines)]
    if workers <= 1:
        res = [_page_crops(j) for j in jobs]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as ex:
            res = list(ex.map(_page_crops, jobs, chunksize=2))
    out = {k: np.concatenate([r[k] for r in res]) for k in res[0] if k != "regs"}
    regs = [g for r in res for g in r["regs"]]
    out["pages_total"] = np.array(len(regs))
    out["pages_registered"] = np.array(sum(g["ok"] for g in regs))
    fails = Counter(g.get("quality", "?") + ":" + g.get("why", "")[:40] for g in regs if not g["ok"])
    out["failures"] = np.array(json.dumps(dict(fails)))
    return out


def evaluate(d: dict, model: Path | None = None) -> dict:
    """Accuracy by quality/source and acceptance at the model's threshold (merged no-digit symbol, as
    ``read_number`` decides ``unsure``)."""
    from extract.digits import DigitReader

    r = DigitReader(model) if model else DigitReader()
    p = r.predict(d["x"])
    return report(p, d, r.accept_threshold)


def report(p: np.ndarray, d: dict, threshold: float) -> dict:
    from extract.digits import symbol_probs
    from training.calibrate import digit_boxes

    y = d["y"]
    sp = symbol_probs(p)
    ys = np.minimum(y, 10)
    sym, conf = sp.argmax(1), sp.max(1)
    ok = sym == ys
    acc = conf >= threshold
    pred12 = p.argmax(1)
    out: dict = {"n": int(len(y)), "threshold": threshold}

    digitish = digit_boxes(sp, y)

    def block(m: np.ndarray) -> dict:
        dm = m & (y < 10)
        da = m & acc & digitish
        forms = np.unique(d["form"][m])
        # a form (all its registered boxes) passes when every box is accepted
        all_acc = [bool(acc[m & (d["form"] == f)].all()) for f in forms]
        all_acc_ok = [bool((acc & ok)[m & (d["form"] == f)].all()) for f in forms]
        return {
            "boxes": int(m.sum()), "digits": int(dm.sum()),
            "digit_acc": round(float((pred12[dm] == y[dm]).mean()), 4) if dm.any() else None,
            "symbol_acc": round(float(ok[m].mean()), 4) if m.any() else None,
            "coverage": round(float(acc[m].mean()), 4) if m.any() else None,
            "accepted_error": round(float((~ok[m & acc]).mean()), 5) if (m & acc).any() else None,
            "digit_coverage": round(float(acc[m & digitish].mean()), 4) if (m & digitish).any() else None,
            "accepted_digit_error": round(float((~ok[da]).mean()), 5) if da.any() else None,
            "forms": len(forms), "forms_all_accepted": round(float(np.mean(all_acc)), 4) if forms.size else None,
            "forms_all_accepted_and_right": round(float(np.mean(all_acc_ok)), 4) if forms.size else None,
        }

    out["all"] = block(np.ones(len(y), bool))
    for qi, q in enumerate(QUALITIES):
        m = d["quality"] == qi
        if m.any():
            out[q] = block(m)
    for si, s in enumerate(SOURCES):
        m = d["source"] == si
        if m.any():
            out["src:" + s] = {k: v for k, v in block(m).items() if k in ("digits", "digit_acc", "symbol_acc")}
    cm = np.zeros((12, 12), np.int64)
    np.add.at(cm, (y, pred12), 1)
    out["3->8"], out["2->7"] = int(cm[3, 8]), int(cm[2, 7])
    out["n3"], out["n2"] = int(cm[3].sum()), int(cm[2].sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="the .npz to write")
    ap.add_argument("--batch-dir", type=Path, default=None, help="default: <out without .npz>-batch")
    ap.add_argument("--forms", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--province", default="32")
    ap.add_argument("--quality", default="mixed", choices=["scan", "photo", "fax", "mixed"])
    ap.add_argument("--split", default="test", choices=["train", "test"])
    ap.add_argument("--form-types", nargs="+", default=["ppwp"])
    ap.add_argument("--sources", nargs="+", default=None, help="restrict the handwriting sources")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--eval", action="store_true", help="measure the packaged reader on the crops")
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()

    from synth.generate import GenerateOptions, generate_batch

    batch = args.batch_dir or args.out.with_name(args.out.stem + "-batch")
    t0 = time.perf_counter()
    if not (batch / "truth.jsonl").exists():
        kw = {"sources": args.sources} if args.sources else {}
        s = generate_batch(GenerateOptions(out_dir=batch, forms=args.forms, province=args.province, seed=args.seed,
                                           quality=args.quality, form_types=args.form_types,
                                           digit_split=args.split, inconsistent_rate=0, workers=args.workers, **kw))
        print(f"generated {s.forms} forms, {s.pages} pages in {s.seconds:.0f}s: {s.by_quality}", flush=True)
    t1 = time.perf_counter()
    d = harvest(batch, args.workers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **d)
    print(f"{len(d['y'])} crops from {int(d['pages_registered'])}/{int(d['pages_total'])} registered pages "
          f"in {time.perf_counter() - t1:.0f}s (total {time.perf_counter() - t0:.0f}s); "
          f"failures {d['failures']}", flush=True)
    if args.eval:
        print(json.dumps(evaluate(d, args.model), indent=1))


if __name__ == "__main__":
    main()
