"""Train the digit-box reader and package it (ONNX + metadata + model card). Training only.

    .venv/bin/python scripts/train_digits.py            # full run (~20 min on 2 idle cores)
    .venv/bin/python scripts/train_digits.py --minutes 11 --xs-minutes 4   # wall-clock budget (busy machine)
    .venv/bin/python scripts/train_digits.py --quick    # smoke run (~2 min), writes to --out

Steps: load MNIST t10k + ARDIS IV (``synth.digit_sources``; the fixed test split i % 5 == 0 is
never trained on; a calibration split i % 20 == 1 is held out of training too), synthesize box
crops the way the reader sees them (``training.augment``), train three small CNNs -- the main model
on both sources and two cross-source models (without MNIST, without ARDIS) -- fit a temperature
per model on its calibration crops, choose the acceptance threshold on the cross-source
evaluations (at most 0.2% of accepted digits wrong), export the main model to ONNX, check that
cv2.dnn reads it and agrees with torch, and write ``digits.json`` and ``MODEL_CARD.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from extract.digits import CROP_SIZE, DigitReader, softmax  # noqa: E402
from schemas.records import DIGIT_CLASSES  # noqa: E402
from synth.digit_sources import SOURCES, default_handwriting_dir, load_sources  # noqa: E402
from training.augment import CLASS_BLANK, CLASS_MARK, render_clean_boxes, render_many  # noqa: E402
from training.calibrate import (  # noqa: E402
    MAX_ACCEPTED_ERROR,
    accept_stats,
    confusion,
    ece,
    fit_temperature,
    min_threshold,
    nll,
    symbol_threshold,
)
from training.fit import train_model  # noqa: E402
from training.net import DigitNet, check_cv2, export_onnx, logits_of  # noqa: E402

CLEAN_PX = (1.0, 1.6, 3.0)  # pixels per layout unit for the clean-box evaluation (24-unit boxes)

SRC_ID = {s: i for i, s in enumerate(SOURCES)}


# ----------------------------------------------------------------------------- data
_POOL_IMAGES: np.ndarray | None = None


def _init_worker(images: np.ndarray) -> None:
    global _POOL_IMAGES
    _POOL_IMAGES = images
    cv2.setNumThreads(1)


def _render_job(job: tuple[int, np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    seed, labels, idx, pool = job
    assert _POOL_IMAGES is not None
    return render_many(seed, labels, idx, _POOL_IMAGES, pool)


def synthesize(images: np.ndarray, labels: np.ndarray, sources: np.ndarray, digit_idx: np.ndarray,
               per_digit: int, mark_frac: float, blank_frac: float, seed: int, procs: int,
               chunk: int = 1500) -> dict[str, np.ndarray]:
    """Crops for ``per_digit`` renderings of each digit in ``digit_idx`` plus marks and blanks.

    Every crop is tagged with a source: a digit's own, and for marks/blanks the source whose
    digits fill the neighbouring boxes, so a cross-source model never sees the held-out writers.
    """
    rng = np.random.default_rng(seed)
    d_idx = np.repeat(digit_idx, per_digit)
    d_lab = labels[d_idx].astype(int)
    d_src = sources[d_idx]
    n_d = len(d_idx)
    n_mark, n_blank = int(n_d * mark_frac), int(n_d * blank_frac)
    m_src = rng.choice(np.unique(sources[digit_idx]), n_mark + n_blank)
    lab = np.concatenate([d_lab, np.full(n_mark, CLASS_MARK), np.full(n_blank, CLASS_BLANK)])
    idx = np.concatenate([d_idx, np.zeros(n_mark + n_blank, int)])
    src = np.concatenate([d_src, m_src])
    order = rng.permutation(len(lab))
    lab, idx, src = lab[order], idx[order], src[order]
    pools = {s: digit_idx[sources[digit_idx] == s] for s in np.unique(src)}
    jobs = []
    for j, a in enumerate(range(0, len(lab), chunk)):
        sl = slice(a, a + chunk)
        # neighbours of one chunk come from one source: chunks are split by source first
        for s, pool in pools.items():
            m = src[sl] == s
            if m.any():
                jobs.append((seed * 100003 + j * 7 + s, lab[sl][m], idx[sl][m], pool, np.nonzero(m)[0] + a))
    out = np.empty((len(lab), CROP_SIZE, CROP_SIZE), np.uint8)
    with get_context("fork").Pool(procs, _init_worker, (images,)) as pool:
        results = pool.map(_render_job, [j[:4] for j in jobs])
    for j, res in zip(jobs, results, strict=True):
        out[j[4]] = res
    return {"x": out, "y": lab.astype(np.int64), "src": src.astype(np.int64)}


def build_data(hw_dir: Path, cache: Path, per_digit: int, procs: int, quick: bool) -> dict[str, dict]:
    sets = load_sources(hw_dir)
    images = np.concatenate([s.images for s in sets])
    labels = np.concatenate([s.labels for s in sets])
    sources = np.concatenate([np.full(len(s), SRC_ID[s.source]) for s in sets])
    native = np.concatenate([np.arange(len(s)) for s in sets])  # index in the source's own order
    test = native % 5 == 0
    calib = native % 20 == 1
    train = ~test & ~calib
    if quick:
        rng = np.random.default_rng(0)
        keep = rng.random(len(labels)) < 0.15
        train, calib, test = train & keep, calib & keep, test & keep
    key = f"v3-k{per_digit}{'-quick' if quick else ''}"
    out: dict[str, dict] = {}
    for name, mask, k, seed in (("train", train, per_digit, 1), ("calib", calib, 4, 2), ("test", test, 2, 3)):
        f = cache / f"{name}-{key}.npz"
        if f.exists():
            with np.load(f) as z:
                out[name] = {a: z[a] for a in z.files}
            print(f"{name}: {len(out[name]['y'])} crops from cache {f}", flush=True)
            continue
        t0 = time.perf_counter()
        d = synthesize(images, labels, sources, np.nonzero(mask)[0], k, 0.10, 0.08, seed, procs)
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(f, **d)
        out[name] = d
        print(f"{name}: {len(d['y'])} crops rendered in {time.perf_counter() - t0:.0f}s", flush=True)
    out["summary"] = {
        "sources": {s.source: {"digits": len(s), "train": int((train & (sources == SRC_ID[s.source])).sum()),
                               "calibration": int((calib & (sources == SRC_ID[s.source])).sum()),
                               "test": int((test & (sources == SRC_ID[s.source])).sum())} for s in sets},
        "split": "test: i % 5 == 0 (native order per source); calibration: i % 20 == 1; train: the rest",
        "renderings_per_digit": {"train": per_digit, "calibration": 4, "test": 2},
        "marks_fraction": 0.10, "blank_fraction": 0.08,
        "crops": {n: int(len(out[n]["y"])) for n in ("train", "calib", "test")},
        "test_cache": f"test-{key}.npz",
    }
    return out


def subset(d: dict, src_keep: list[int]) -> dict:
    m = np.isin(d["src"], src_keep)
    return {k: v[m] for k, v in d.items()}


def time_reader(model_path: Path, meta_path: Path, x: np.ndarray, boxes: int = 30, reps: int = 30) -> float:
    cv2.setNumThreads(1)
    r = DigitReader(model_path, meta_path)
    r.predict(x[:boxes])
    t0 = time.perf_counter()
    for i in range(reps):
        r.predict(x[i:i + boxes])
    return (time.perf_counter() - t0) / reps * 1000


def clean_box_eval(reader: DigitReader, hw_dir: Path) -> dict:
    """The packaged reader on every test-split digit written neatly into a clean printed box, at
    three resolutions (24-unit boxes at 24, 38 and 72 px): the easy end of the distribution."""
    out: dict = {}
    right = total = 0
    for ds in load_sources(hw_dir, split="test"):
        y = ds.labels.astype(int)
        accs = []
        for px in CLEAN_PX:
            p = reader.predict(render_clean_boxes(ds.images, px, seed=int(px * 10)))
            ok = p.argmax(1) == y
            accs.append(float(ok.mean()))
            right += int(ok.sum())
            total += len(y)
            st = accept_stats(p, y, reader.accept_threshold)
            out[f"{ds.source}@{px}"] = {"accuracy": round(accs[-1], 4), **st}
        out[ds.source] = round(float(np.mean(accs)), 4)
    out["all"] = round(right / total, 4)
    return out


def recard(out_dir: Path, hw_dir: Path, cache: Path, command: str) -> None:
    """Re-measure the packaged model (clean boxes, speed) and rewrite digits.json and the card."""
    meta_path = out_dir / "digits.json"
    meta = json.loads(meta_path.read_text("utf-8"))
    reader = DigitReader(out_dir / "digits.onnx", meta_path)
    te = np.load(cache / meta["training_data"].get("test_cache", "test-v3-k12.npz"))
    p = reader.predict(te["x"])
    cm = confusion(te["y"], p.argmax(1))
    meta["metrics"]["clean_box"] = clean_box_eval(reader, hw_dir)
    meta["metrics"]["ms_per_30_boxes"] = round(time_reader(out_dir / "digits.onnx", meta_path, te["x"]), 2)
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    write_card(out_dir / "MODEL_CARD.md", meta, cm, command)


# ----------------------------------------------------------------------------- card
def _table(m: np.ndarray) -> str:
    head = "| true \\ read | " + " | ".join(DIGIT_CLASSES) + " |"
    sep = "|" + "---|" * (len(DIGIT_CLASSES) + 1)
    rows = [f"| **{c}** | " + " | ".join(str(v) if v else "." for v in m[i]) + " |"
            for i, c in enumerate(DIGIT_CLASSES)]
    return "\n".join([head, sep, *rows])


def write_card(path: Path, meta: dict, conf_m: np.ndarray, command: str) -> None:
    mt = meta["metrics"]
    tr = meta["training"]
    cs = mt["cross_source"]
    cb = mt.get("clean_box") or {"all": float("nan"), "mnist": float("nan"), "ardis": float("nan")}
    lines = [
        "# Digit-box reader: model card",
        "",
        f"Version `{meta['version']}` -- `extract/models/digits.onnx` (+ `digits.json`), read at run time",
        "with `cv2.dnn` only (`extract/digits.py`). Trained by `scripts/train_digits.py` (torch, training only).",
        "",
        "## What it does",
        "Classifies one digit-box crop (32x32 gray, paper white, the box's outer printed border at the",
        "crop edges, see `extract.digits.crop_boxes`) into 12 classes: `0`-`9`, `X` (a no-digit mark:",
        "X, dash, long dash, double dash) and `_` (blank box). Outputs logits; probabilities are",
        f"`softmax(logits / T)` with the fitted temperature T = {meta['temperature']}.",
        f"A box counts as confidently read when its top probability is >= {meta['accept_threshold']}",
        "(`accept_threshold`; `read_number` merges X and blank into one \"no digit\" symbol first).",
        "",
        "## Model",
        f"Small CNN, {meta['params']} parameters (conv5x5/2 and 4 conv3x3, each +BN+ReLU, 2 max-pools,",
        f"global average pool, linear 128->12), ONNX opset 13, {meta['onnx_bytes']} bytes.",
        "Input `(255 - crop) / 255`, N x 1 x 32 x 32.",
        "",
        "## Data",
        "- MNIST t10k (10,000 digits; LeCun, Cortes, Burges; CC BY-SA 3.0) and ARDIS IV (6,600 digits,",
        "  Swedish church records 1896-1902; Kusetogullari et al. 2019), via `synth/digit_sources.py`.",
        "- Fixed split per source (native order): **test i % 5 == 0 (never trained on; the sample",
        "  generator draws test pages' digits from it)**, calibration i % 20 == 1 (held out of training,",
        "  used to fit T), train: the rest.",
        f"- Split sizes: `{json.dumps(meta['training_data']['sources'])}`.",
        f"- Each training digit is rendered {meta['training_data']['renderings_per_digit']['train']} times"
        " as a box crop (`training/augment.py`):",
        "  source resolution 12-64 px per box (low-res upscaled), plano boxes or table cells (aspect",
        "  0.6-1.4 squeezed to a square), border thickness/contrast/partial lines, neighbouring boxes",
        "  with other digits (sometimes intruding after a registration slip), dotted 7-segment guide,",
        "  digit height 50-95% of the box, slant, rotation, stroke width, off-centre/touching the border,",
        "  ink darkness, paper texture, uneven light, shadows, blur, noise, JPEG, fax binarization, and a",
        "  registration error (shift ~2.5% sd up to 10%, scale +-3% sd, corner jitter) applied through",
        "  the homography before `crop_boxes` -- the reader's own crop function.",
        "  Procedural X/dash marks are 10% and blank boxes 8% of the digit crops.",
        f"- Training crops: main {tr['main']['crops']}, without MNIST {tr['no-mnist']['crops']},"
        f" without ARDIS {tr['no-ardis']['crops']};",
        f"  samples seen: main {tr['main']['samples']}, without MNIST {tr['no-mnist']['samples']},"
        f" without ARDIS {tr['no-ardis']['samples']}.",
        "",
        "## Metrics",
        "All measured on **synthesized box crops** of the test split (2 renderings per test digit plus",
        "procedural marks/blanks), not on registered pages; the generator-based evaluation on whole",
        "pages comes later in the project.",
        "",
        "| what | value |",
        "|---|---|",
        f"| digit accuracy, test split, all sources (main model) | {mt['test_digit_accuracy']:.4f} |",
        f"| ... MNIST test split | {mt['test_digit_accuracy_by_source']['mnist']:.4f} |",
        f"| ... ARDIS test split | {mt['test_digit_accuracy_by_source']['ardis']:.4f} |",
        f"| all 12 classes, test crops | {mt['test_accuracy_all_classes']:.4f} |",
        f"| digits neatly written in clean printed boxes (test split, 3 resolutions) | {cb['all']:.4f}"
        f" (MNIST {cb['mnist']:.4f}, ARDIS {cb['ardis']:.4f}) |",
        f"| X/dash mark recall | {mt['mark_recall']:.4f} |",
        f"| blank recall | {mt['blank_recall']:.4f} |",
        f"| \"no digit\" (X or blank, merged) recall | {mt['nodigit_merged_recall']:.4f} |",
        f"| cross-source: train without MNIST, test MNIST | {cs['no-mnist']['accuracy']:.4f} |",
        f"| cross-source: train without ARDIS, test ARDIS | {cs['no-ardis']['accuracy']:.4f} |",
        f"| ECE (15 bins), test crops, before / after T | {mt['ece_before']:.4f} / {mt['ece_after']:.4f} |",
        f"| NLL, test crops, before / after T | {mt['nll_before']:.4f} / {mt['nll_after']:.4f} |",
        f"| accept threshold (<= 0.2% accepted errors, cross-source) | {meta['accept_threshold']} |",
        f"| ... cross-source no-MNIST: coverage / accepted error | {cs['no-mnist']['at_threshold']['coverage']}"
        f" / {cs['no-mnist']['at_threshold']['accepted_error']} |",
        f"| ... cross-source no-ARDIS: coverage / accepted error | {cs['no-ardis']['at_threshold']['coverage']}"
        f" / {cs['no-ardis']['at_threshold']['accepted_error']} |",
        f"| ... main model, test digits: coverage / accepted error | {mt['main_at_threshold']['coverage']}"
        f" / {mt['main_at_threshold']['accepted_error']} |",
        f"| Sirekap's confusions (main, test digit crops): 3 read as 8 / 2 read as 7 | {mt['confusions']['3->8']}"
        f" / {mt['confusions']['2->7']} (of {mt['confusions']['n3']} / {mt['confusions']['n2']}) |",
        f"| cv2.dnn vs torch, max abs logit difference | {mt['cv2_torch_max_abs_diff']:.2e} |",
        f"| inference, one page of 30 boxes (cv2.dnn, 1 thread) | {mt['ms_per_30_boxes']:.1f} ms |",
        "",
        *([f"Cross-source models and threshold from run `{meta['cross_source_from']}` (same data and"
           " recipe; the main model was retrained alone with `--only main`)."] if meta.get("cross_source_from")
          else []),
        *([f"Main model from run `{meta['main_from']}`; the cross-source models were retrained with"
           " `--only cross`."] if meta.get("main_from") else []),
        "Cross-source temperatures are fitted on each model's own calibration crops (its training",
        "sources only); the threshold is the smallest that keeps accepted errors <= 0.2% in *both*",
        "cross-source directions, so it is conservative for the main model.",
        "",
        "### Against the targets",
        f"- held-out digit accuracy >= 99.3% (aim 99.5%): {mt['test_digit_accuracy']:.2%} on the synthesized"
        f" crops, {cb['all']:.2%} on clean boxes -- "
        + ("met." if mt["test_digit_accuracy"] >= 0.993 else "**not met** (see Limits)."),
        f"- cross-source >= 95%: {cs['no-mnist']['accuracy']:.2%} / {cs['no-ardis']['accuracy']:.2%} -- "
        + ("met." if min(cs["no-mnist"]["accuracy"], cs["no-ardis"]["accuracy"]) >= 0.95 else "**not met**."),
        "",
        "### Confusion matrix (main model, test crops; rows = truth, columns = read)",
        "",
        _table(conf_m),
        "",
        "## Limits",
        "- Trained on MNIST/ARDIS writers pasted into synthetic boxes: real KPPS handwriting (Indonesian",
        "  numerals, felt pens on plano sheets, phone photos) will differ; expect lower accuracy on real",
        "  forms. Validate with the arithmetic rules and the review queue, never trust a single box.",
        "- Under-trained: the committed run trained on a busy shared 2-core machine under a wall-clock",
        "  budget (main model ~1.8 passes over the crops, loss still falling). The synthesized test crops",
        "  include near-illegible cases (12 px boxes, fax, heavy blur, neighbour intrusions), so their",
        "  accuracy is pessimistic; clean boxes are the optimistic bound. First lever: more samples on an",
        "  idle machine (`--samples 1500000 --xs-samples 600000`, ~1800 samples/s uncontended).",
        "- The threshold comes from weak cross-source models (about 70%), hence very strict (low coverage):",
        "  most boxes will be `unsure`; retrain before relying on automatic acceptance.",
        "- X/dash/blank marks are procedural, not real officers' marks.",
        "- Crops must be cut with `extract.digits.crop_boxes` from the box's OUTER border rect.",
        "",
        "## Reproduce",
        "```",
        command,
        "```",
        f"Training took {meta['training_seconds']:.0f} s on 2 CPU cores"
        " (rendering cached under `build/digits-cache/`).",
        "",
    ]
    path.write_text("\n".join(lines), "utf-8")


# ----------------------------------------------------------------------------- page crops
def load_pages(files: list[Path]) -> dict[str, np.ndarray]:
    """Harvested page crops (``scripts/harvest_crops.py``) of several batches, form ids made unique."""
    keys = ("x", "y", "quality", "source", "form", "page", "box", "nbox")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    off = 0
    for f in files:
        with np.load(f) as z:
            for k in keys:
                parts[k].append(z[k] + off if k == "form" else z[k])
            off += int(z["form"].max()) + 1 if len(z["form"]) else 0
    return {k: np.concatenate(v) for k, v in parts.items()}


def clean_train_crops(hw_dir: Path, cache: Path) -> dict[str, np.ndarray]:
    """Every training-split digit (not test, not calibration) written neatly into a clean box at the
    three clean resolutions: the plain end of the distribution, which the harsh synthesized crops
    under-represent."""
    f = cache / "clean-train-v1.npz"
    if f.exists():
        with np.load(f) as z:
            return {a: z[a] for a in z.files}
    xs, ys, ss = [], [], []
    for ds in load_sources(hw_dir):
        native = np.arange(len(ds))
        m = (native % 5 != 0) & (native % 20 != 1)
        for px in CLEAN_PX:
            xs.append(render_clean_boxes(ds.images[m], px, seed=int(px * 100) + 1))
            ys.append(ds.labels[m].astype(np.int64))
            ss.append(np.full(int(m.sum()), SRC_ID[ds.source], np.int64))
    d = {"x": np.concatenate(xs), "y": np.concatenate(ys), "src": np.concatenate(ss)}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(f, **d)
    return d


def train_with_pages(args: argparse.Namespace) -> None:
    """The page-aware recipe: synthesized + clean + harvested page crops; T and threshold from held-out
    test-split page crops (calibration batches), metrics on other test-split page batches."""
    from harvest_crops import report

    t_start = time.perf_counter()
    data = build_data(args.hw_dir, args.cache, args.per_digit, args.procs, args.quick)
    tr, te = data["train"], data["test"]
    cl = clean_train_crops(args.hw_dir, args.cache)
    syn = {k: np.concatenate([tr[k], cl[k]]) for k in ("x", "y", "src")}
    tp = load_pages(args.pages)
    print(f"synth {len(syn['y'])} (clean {len(cl['y'])}), page train {len(tp['y'])}", flush=True)
    init = torch.load(args.init) if args.init else None
    model, seen = train_model(syn, args.samples, args.seed, "main", minutes=args.minutes, pages=tp,
                              page_frac=args.page_frac, init=init, max_lr=args.lr)
    args.cache.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.cache / f"model-pages-{args.out.name}.pt")
    train_seconds = time.perf_counter() - t_start

    # calibration and test batches are read after training (they may still be harvested meanwhile)
    cp = load_pages(args.calib_pages)
    tests = {f.stem: load_pages([f]) for f in args.test_pages}
    print(f"calibration {len(cp['y'])} crops, test {[len(t['y']) for t in tests.values()]}", flush=True)
    lg_c = logits_of(model, cp["x"])
    T = fit_temperature(lg_c, cp["y"])
    threshold, calib_at = symbol_threshold(softmax(lg_c, T), cp["y"], MAX_ACCEPTED_ERROR)
    print(f"T = {T}, threshold = {threshold}, calibration pages at threshold: {calib_at}", flush=True)

    pages_metrics = {}
    for name, d in tests.items():
        lg = logits_of(model, d["x"])
        pages_metrics[name] = report(softmax(lg, T), d, threshold)
        pages_metrics[name]["ece"] = round(ece(softmax(lg, T), d["y"]), 4)
        pages_metrics[name]["nll"] = round(nll(lg, d["y"], T), 4)
    all_pages = {k: np.concatenate([t[k] + (i * 100000 if k == "form" else 0) for i, t in enumerate(tests.values())])
                 for k in next(iter(tests.values()))}
    lg_all = logits_of(model, all_pages["x"])
    cm_pages = confusion(all_pages["y"], lg_all.argmax(1))
    pages_metrics["all_test_pages"] = report(softmax(lg_all, T), all_pages, threshold)

    lg = logits_of(model, te["x"])
    p1 = softmax(lg, T)
    y, pred, dm = te["y"], p1.argmax(1), te["y"] < 10
    cm = confusion(y, pred)
    metrics = {
        "pages": pages_metrics,
        "calibration_pages_at_threshold": calib_at,
        "synth_test_digit_accuracy": round(float((pred[dm] == y[dm]).mean()), 4),
        "synth_test_accuracy_all_classes": round(float((pred == y).mean()), 4),
        "synth_confusions": {"3->8": int(cm[3, 8]), "2->7": int(cm[2, 7]), "n3": int(cm[3].sum()),
                             "n2": int(cm[2].sum())},
        "page_confusion": cm_pages.tolist(),
    }
    print(json.dumps({k: v for k, v in metrics.items() if k != "page_confusion"}, indent=1), flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "digits.onnx"
    export_onnx(model, onnx_path)
    metrics["cv2_torch_max_abs_diff"] = check_cv2(onnx_path, model, all_pages["x"])
    if metrics["cv2_torch_max_abs_diff"] > 1e-4:
        sys.exit(f"cv2.dnn disagrees with torch: {metrics['cv2_torch_max_abs_diff']}")
    previous = json.loads((ROOT / "extract" / "models" / "digits.json").read_text("utf-8"))
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    cmd = " ".join([".venv/bin/python scripts/train_digits.py", *sys.argv[1:]])
    meta = {
        "version": f"digits-{dt.date.today():%Y%m%d}-{sha[:8]}",
        "classes": list(DIGIT_CLASSES),
        "input_size": CROP_SIZE,
        "input": "(255 - crop) / 255, N x 1 x 32 x 32 float32; crop from extract.digits.crop_boxes",
        "output": "logits; probabilities = softmax(logits / temperature)",
        "temperature": T,
        "accept_threshold": threshold,
        "accept_threshold_on": "merged symbol probability (digits 0-9, X+blank as one), as read_number",
        "max_accepted_error": MAX_ACCEPTED_ERROR,
        "onnx_sha256": sha,
        "onnx_bytes": onnx_path.stat().st_size,
        "params": int(sum(p.numel() for p in model.parameters())),
        "training_data": {
            **data["summary"], "clean_crops": int(len(cl["y"])),
            "page_crops": {"train": int(len(tp["y"])), "calibration": int(len(cp["y"])),
                           "test": {k: int(len(t["y"])) for k, t in tests.items()}},
            "page_files": {"train": [f.name for f in args.pages], "calibration": [f.name for f in args.calib_pages],
                           "test": [f.name for f in args.test_pages]},
            "page_fraction_of_batch": args.page_frac,
        },
        "training": {"samples": seen, "init": str(args.init.name) if args.init else None, "max_lr": args.lr},
        "training_seconds": round(train_seconds, 1),
        "cross_source_from": previous.get("cross_source_from") or previous["version"],
        "cross_source": previous["metrics"].get("cross_source"),
        "seed": args.seed,
        "command": cmd,
        "metrics": metrics,
    }
    meta_path = args.out / "digits.json"
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    metrics["ms_per_30_boxes"] = round(time_reader(onnx_path, meta_path, all_pages["x"]), 2)
    metrics["clean_box"] = clean_box_eval(DigitReader(onnx_path, meta_path), args.hw_dir)
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    write_pages_card(args.out / "MODEL_CARD.md", meta, cm_pages)
    print(f"wrote {onnx_path} ({meta['onnx_bytes']} bytes), version {meta['version']}, T={T}, "
          f"threshold={threshold}, {time.perf_counter() - t_start:.0f}s total", flush=True)


def _q_rows(name: str, m: dict) -> list[str]:
    rows = []
    for q in ("all", "scan", "fax", "photo"):
        if q in m:
            b = m[q]
            rows.append(f"| {name} | {q} | {b['boxes']} | {b['digit_acc']:.4f} | {b['symbol_acc']:.4f} | "
                        f"{b['coverage']:.4f} | {b['accepted_error'] if b['accepted_error'] is not None else '-'} | "
                        f"{b['forms']} | {b['forms_all_accepted']:.3f} | {b['forms_all_accepted_and_right']:.3f} |")
    return rows


def write_pages_card(path: Path, meta: dict, conf_m: np.ndarray) -> None:
    mt = meta["metrics"]
    td = meta["training_data"]
    pg = mt["pages"]
    allp = pg["all_test_pages"]
    cs = meta.get("cross_source") or {}
    cb = mt.get("clean_box") or {"all": float("nan"), "mnist": float("nan"), "ardis": float("nan")}
    scan = allp.get("scan", {})
    lines = [
        "# Digit-box reader: model card",
        "",
        f"Version `{meta['version']}` -- `extract/models/digits.onnx` (+ `digits.json`), read at run time",
        "with `cv2.dnn` only (`extract/digits.py`). Trained by `scripts/train_digits.py --pages ...` (torch,",
        "training only) on crops harvested from generated pages by `scripts/harvest_crops.py`.",
        "",
        "## What it does",
        "Classifies one digit-box crop (32x32 gray, paper white, the box's outer printed border at the",
        "crop edges, see `extract.digits.crop_boxes`) into 12 classes: `0`-`9`, `X` (a no-digit mark:",
        "X, dash, long dash, double dash) and `_` (blank box). Outputs logits; probabilities are",
        f"`softmax(logits / T)` with the fitted temperature T = {meta['temperature']}.",
        f"A box counts as confidently read when its merged-symbol probability is >= {meta['accept_threshold']}",
        "(`accept_threshold`; `read_number` merges X and blank into one \"no digit\" symbol first, and the",
        "threshold is chosen on exactly that probability).",
        "",
        "## Model",
        f"Small CNN, {meta['params']} parameters (conv5x5/2 and 4 conv3x3, each +BN+ReLU, 2 max-pools,",
        f"global average pool, linear 128->12), ONNX opset 13, {meta['onnx_bytes']} bytes.",
        "Input `(255 - crop) / 255`, N x 1 x 32 x 32.",
        "",
        "## Data",
        "- Handwriting: MNIST t10k (10,000 digits; LeCun, Cortes, Burges; CC BY-SA 3.0) and ARDIS IV (6,600",
        "  digits, Swedish church records 1896-1902; Kusetogullari et al. 2019), via `synth/digit_sources.py`,",
        "  plus the generator's procedural stroke hand (~15% of generated forms).",
        "- Fixed split per source (native order): **test i % 5 == 0, never trained on** (the generator's",
        "  `digit_split=\"test\"` writes with exactly these); the synthesized-crop calibration split i % 20 == 1",
        "  is held out of the synthesized training crops.",
        "- Training mix, per batch of 256: "
        f"{td['page_fraction_of_batch']:.0%} **page crops** ({td['page_crops']['train']} crops cut by the real",
        "  pipeline -- decode, register, `crop_boxes` -- from generated pages written with the *train* split:",
        f"  {', '.join(td['page_files']['train'])}), the rest synthesized crops ({td['crops']['train']}, "
        "`training/augment.py`,",
        f"  harsh augmentation, see below) and {td['clean_crops']} clean renderings (every training digit neatly in a",
        "  printed box at 24, 38 and 72 px).",
        "- Synthesized crops: source resolution 12-64 px per box, plano boxes or table cells, border",
        "  variations, neighbouring boxes, dotted guide, digit size/slant/rotation/stroke, ink, paper,",
        "  light, shadows, blur, noise, JPEG, fax binarization, and a registration error applied through",
        "  the homography before `crop_boxes`. Procedural X/dash marks 10%, blanks 8%.",
        f"- Temperature and threshold: fitted on {td['page_crops']['calibration']} crops of separately generated",
        f"  *test-split* pages ({', '.join(td['page_files']['calibration'])}); metrics below on other test-split",
        f"  batches ({', '.join(td['page_files']['test'])}). The handwriting test split is small (2,000 MNIST +",
        "  1,320 ARDIS digits), so calibration and test pages reuse the same digit images in different",
        "  renderings, writers, pages and degradations.",
        f"- Samples seen: {meta['training']['samples']}"
        + (f" (warm-started from `{meta['training']['init']}`)" if meta["training"].get("init") else "") + ".",
        "",
        "## Metrics on registered generated pages (held-out test split)",
        "Boxes of PPWP forms generated with `digit_split=\"test\"`, decoded, registered and cropped exactly as",
        "the pipeline does (`scripts/harvest_crops.py`). digit acc = 12-class top-1 on boxes holding a digit;",
        "symbol acc = merged symbol (as `read_number`) on all boxes; coverage = share of boxes accepted at",
        "the threshold; forms verified = share of forms whose every registered box is accepted",
        "(and: accepted and right).",
        "",
        "| batch | quality | boxes | digit acc | symbol acc | coverage | accepted error | forms |"
        " forms all accepted | ... and all right |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in pg.items():
        lines += _q_rows(name, m)
    lines += [
        "",
        "By handwriting source (all test pages): " + ", ".join(
            f"{k[4:]} {v['digit_acc']:.4f} ({v['digits']} digits)" for k, v in allp.items()
            if k.startswith("src:") and v.get("digit_acc") is not None) + ".",
        "",
        "| other measure | value |",
        "|---|---|",
        f"| calibration pages at the threshold: coverage / accepted error | "
        f"{mt['calibration_pages_at_threshold']['coverage']} / "
        f"{mt['calibration_pages_at_threshold']['accepted_error']} |",
        f"| Sirekap's confusions on test pages: 3 read as 8 / 2 read as 7 | {allp['3->8']} / {allp['2->7']}"
        f" (of {allp['n3']} / {allp['n2']}) |",
        f"| synthesized test crops (harsh augmentation), digit accuracy | {mt['synth_test_digit_accuracy']:.4f} |",
        f"| ... 3 read as 8 / 2 read as 7 | {mt['synth_confusions']['3->8']} / {mt['synth_confusions']['2->7']}"
        f" (of {mt['synth_confusions']['n3']} / {mt['synth_confusions']['n2']}) |",
        f"| clean printed boxes, test split, 3 resolutions | {cb['all']:.4f} (MNIST {cb['mnist']:.4f},"
        f" ARDIS {cb['ardis']:.4f}) |",
    ]
    if cs:
        lines += [
            f"| cross-source: train without MNIST, test MNIST (**previous recipe**, `{meta['cross_source_from']}`) |"
            f" {cs['no-mnist']['accuracy']:.4f} |",
            f"| cross-source: train without ARDIS, test ARDIS (**previous recipe**) |"
            f" {cs['no-ardis']['accuracy']:.4f} |",
        ]
    lines += [
        f"| cv2.dnn vs torch, max abs logit difference | {mt['cv2_torch_max_abs_diff']:.2e} |",
        f"| inference, one page of 30 boxes (cv2.dnn, 1 thread) | {mt.get('ms_per_30_boxes', float('nan')):.1f} ms |",
        "",
        "### Against the targets",
        f"- held-out digit accuracy >= 99.3% (aim 99.5%) on page crops: {allp['all']['digit_acc']:.2%} overall, "
        f"{scan.get('digit_acc', float('nan')):.2%} on scans -- "
        + ("met." if allp["all"]["digit_acc"] >= 0.993 else "**not met** overall (see the per-quality rows)."),
        f"- per-box coverage on scans >= 99% (so that forms verify): {scan.get('coverage', float('nan')):.2%}; "
        f"scan forms with every box accepted: {scan.get('forms_all_accepted', float('nan')):.1%}.",
        "- cross-source >= 95%: not re-measured for this recipe; the numbers above are from the previous,",
        "  synthesized-only recipe (about 70%) and remain the honest estimate for unseen handwriting styles.",
        "",
        "### Confusion matrix (all test pages; rows = truth, columns = read, 12 classes)",
        "",
        _table(np.asarray(conf_m)),
        "",
        "## Limits",
        "- All page crops come from the project's own generator: MNIST/ARDIS/procedural writers pasted into",
        "  rendered forms and degraded. Real KPPS handwriting (Indonesian numerals, felt pens on plano",
        "  sheets, real phone photos) will differ; the cross-source gap (~70% for an unseen writer",
        "  population) says how much. Validate with the arithmetic rules and the review queue.",
        "- The threshold guarantees <= 0.2% accepted errors only on the generator's distribution.",
        "- X/dash/blank marks are procedural, not real officers' marks.",
        "- Crops must be cut with `extract.digits.crop_boxes` from the box's OUTER border rect.",
        "",
        "## Reproduce",
        "```",
        "# page crops (each call generates a batch under build/digits-pages/ and harvests it)",
        ".venv/bin/python scripts/harvest_crops.py --forms 120 --seed 101 --quality mixed --split test"
        " --out build/digits-pages/test-mixed.npz",
        ".venv/bin/python scripts/harvest_crops.py --forms 100 --seed 102 --quality scan --split test"
        " --out build/digits-pages/test-scan.npz",
        ".venv/bin/python scripts/harvest_crops.py --forms 60 --seed 103 --quality mixed --split test"
        " --out build/digits-pages/calib-mixed.npz",
        ".venv/bin/python scripts/harvest_crops.py --forms 150 --seed 1 --quality scan --split train"
        " --form-types ppwp ppwp-salinan dpr --out build/digits-pages/train-scan.npz",
        ".venv/bin/python scripts/harvest_crops.py --forms 60 --seed 2 --quality fax --split train"
        " --form-types ppwp ppwp-salinan dpr --out build/digits-pages/train-fax.npz",
        "# then train (warm start: the synthesized-only model of the previous recipe, its state dict",
        "# build/digits-cache/model-main.pt, from `scripts/train_digits.py --only main`; --out then copied",
        "# into extract/models):",
        meta["command"],
        "```",
        f"Training took {meta['training_seconds']:.0f} s on one thread of a heavily shared 2-core machine"
        " (page harvesting took about 10 more minutes).",
        "",
    ]
    path.write_text("\n".join(lines), "utf-8")


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hw-dir", type=Path, default=default_handwriting_dir())
    ap.add_argument("--out", type=Path, default=None, help="default extract/models (--quick: a temp dir)")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "digits-cache")
    ap.add_argument("--per-digit", type=int, default=12, help="renderings of each training digit")
    ap.add_argument("--samples", type=int, default=1_000_000, help="training samples seen, main model")
    ap.add_argument("--xs-samples", type=int, default=300_000, help="training samples, cross-source models")
    ap.add_argument("--minutes", type=float, default=None,
                    help="train the main model for this wall time instead of --samples (busy machines)")
    ap.add_argument("--xs-minutes", type=float, default=None, help="wall time per cross-source model")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="tiny run to check the pipeline end to end")
    ap.add_argument("--render-only", action="store_true", help="only render (and cache) the crops")
    ap.add_argument("--only", choices=["main", "cross"], default=None,
                    help="retrain only the main model (keep the cross-source results and threshold in --out) "
                         "or only the cross-source models (keep the main model cached by the last run)")
    ap.add_argument("--main-only", dest="only", action="store_const", const="main", help="= --only main")
    ap.add_argument("--recard", action="store_true",
                    help="only re-measure the packaged model (clean boxes, speed) and rewrite json + card")
    ap.add_argument("--pages", type=Path, nargs="+", default=None,
                    help="harvested page crops (scripts/harvest_crops.py, train split) to train on: "
                         "switches to the page-aware recipe")
    ap.add_argument("--calib-pages", type=Path, nargs="+", default=[],
                    help="test-split page crops to fit T and the threshold on")
    ap.add_argument("--test-pages", type=Path, nargs="+", default=[], help="test-split page crops to report on")
    ap.add_argument("--page-frac", type=float, default=0.5, help="share of each batch from --pages")
    ap.add_argument("--init", type=Path, default=None, help="warm-start from this state dict")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    args = ap.parse_args()
    if args.hw_dir is None or not args.hw_dir.is_dir():
        sys.exit("handwriting sources not found (../shared/handwriting); pass --hw-dir")
    if args.quick:
        args.per_digit, args.samples, args.xs_samples, args.minutes = 4, 12_000, 6_000, None
    if args.out is None:
        args.out = Path("/tmp/pindai-digits-quick") if args.quick else ROOT / "extract" / "models"
    torch.set_num_threads(args.procs)
    if args.recard:
        meta = json.loads((args.out / "digits.json").read_text("utf-8"))
        recard(args.out, args.hw_dir, args.cache, meta.get("command", ".venv/bin/python scripts/train_digits.py"))
        return
    if args.pages:
        train_with_pages(args)
        return
    t_start = time.perf_counter()
    data = build_data(args.hw_dir, args.cache, args.per_digit, args.procs, args.quick)
    if args.render_only:
        return
    tr, ca, te = data["train"], data["calib"], data["test"]
    variants = {"main": list(SRC_ID.values()), "no-mnist": [SRC_ID["ardis"]], "no-ardis": [SRC_ID["mnist"]]}
    held_out = {"no-mnist": SRC_ID["mnist"], "no-ardis": SRC_ID["ardis"]}
    previous = None
    models: dict[str, DigitNet] = {}
    temps: dict[str, float] = {}
    train_info: dict[str, dict] = {}
    if args.only:  # retrain part; the rest comes from the packaged model's run (digits.json + cache)
        previous = json.loads((args.out / "digits.json").read_text("utf-8"))
        if args.only == "main":
            variants = {"main": variants["main"]}
        else:
            variants = {k: v for k, v in variants.items() if k != "main"}
            models["main"] = DigitNet()
            models["main"].load_state_dict(torch.load(args.cache / f"model-main{'-quick' * args.quick}.pt"))
            models["main"].eval()
            temps["main"] = previous["temperature"]
            train_info["main"] = previous["training"]["main"]
    for i, (name, keep) in enumerate(variants.items()):
        if name in models:
            continue
        d = subset(tr, keep)
        samples = args.samples if name == "main" else args.xs_samples
        minutes = (args.minutes if name == "main" else args.xs_minutes) if args.minutes else None
        models[name], samples = train_model(d, samples, args.seed + i, name, minutes=minutes)
        c = subset(ca, keep)
        temps[name] = fit_temperature(logits_of(models[name], c["x"]), c["y"])
        train_info[name] = {"crops": int(len(d["y"])), "samples": samples, "temperature": temps[name]}
        print(f"[{name}] T = {temps[name]}", flush=True)
        args.cache.mkdir(parents=True, exist_ok=True)
        torch.save(models[name].state_dict(), args.cache / f"model-{name}{'-quick' * args.quick}.pt")
    train_seconds = time.perf_counter() - t_start

    # cross-source evaluations -> acceptance threshold
    cross: dict[str, dict] = {}
    ths = []
    for name, src in held_out.items():
        if name not in models:
            break
        e = subset(te, [src])
        dm = e["y"] < 10
        p = softmax(logits_of(models[name], e["x"]), temps[name])
        conf, correct = p[dm].max(1), p[dm].argmax(1) == e["y"][dm]
        t = min_threshold(conf, correct, MAX_ACCEPTED_ERROR)
        ths.append(t)
        cross[name] = {"test_source": SOURCES[src], "accuracy": round(float(correct.mean()), 4),
                       "all_classes_accuracy": round(float((p.argmax(1) == e["y"]).mean()), 4),
                       "threshold_alone": round(t, 6), "_p": p[dm], "_y": e["y"][dm]}
    if "no-mnist" not in models:
        assert previous is not None
        threshold = previous["accept_threshold"]
        cross = previous["metrics"]["cross_source"]
        train_info.update({k: v for k, v in previous["training"].items() if k != "main"})
    else:
        threshold = round(min(0.9999, max(ths)), 4)
        for c in cross.values():
            c["at_threshold"] = accept_stats(c.pop("_p"), c.pop("_y"), threshold)

    # main model on the test split
    main = models["main"]
    lg = logits_of(main, te["x"])
    p0, p1 = softmax(lg, 1.0), softmax(lg, temps["main"])
    y = te["y"]
    pred = p1.argmax(1)
    dm = y < 10
    cm = confusion(y, pred)
    nodig = y >= 10
    metrics = {
        "test_digit_accuracy": round(float((pred[dm] == y[dm]).mean()), 4),
        "test_digit_accuracy_by_source": {
            s: round(float((pred[dm & (te["src"] == i)] == y[dm & (te["src"] == i)]).mean()), 4)
            for s, i in SRC_ID.items()},
        "test_accuracy_all_classes": round(float((pred == y).mean()), 4),
        "mark_recall": round(float((pred[y == CLASS_MARK] == CLASS_MARK).mean()), 4),
        "blank_recall": round(float((pred[y == CLASS_BLANK] == CLASS_BLANK).mean()), 4),
        "nodigit_merged_recall": round(float((pred[nodig] >= 10).mean()), 4),
        "digit_read_as_nodigit": round(float((pred[dm] >= 10).mean()), 4),
        "ece_before": round(ece(p0, y), 4), "ece_after": round(ece(p1, y), 4),
        "nll_before": round(nll(lg, y, 1.0), 4), "nll_after": round(nll(lg, y, temps["main"]), 4),
        "main_at_threshold": accept_stats(p1[dm], y[dm], threshold),
        "confusions": {"3->8": int(cm[3, 8]), "2->7": int(cm[2, 7]), "n3": int(cm[3].sum()), "n2": int(cm[2].sum())},
        "cross_source": cross,
        "test_crops": int(len(y)),
    }
    print(json.dumps(metrics, indent=1), flush=True)

    # export, check, package
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "digits.onnx"
    export_onnx(main, onnx_path)
    metrics["cv2_torch_max_abs_diff"] = check_cv2(onnx_path, main, te["x"])
    if metrics["cv2_torch_max_abs_diff"] > 1e-4:
        sys.exit(f"cv2.dnn disagrees with torch: {metrics['cv2_torch_max_abs_diff']}")
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    meta = {
        "version": f"digits-{dt.date.today():%Y%m%d}-{sha[:8]}",
        "classes": list(DIGIT_CLASSES),
        "input_size": CROP_SIZE,
        "input": "(255 - crop) / 255, N x 1 x 32 x 32 float32; crop from extract.digits.crop_boxes",
        "output": "logits; probabilities = softmax(logits / temperature)",
        "temperature": temps["main"],
        "accept_threshold": threshold,
        "max_accepted_error": MAX_ACCEPTED_ERROR,
        "onnx_sha256": sha,
        "onnx_bytes": onnx_path.stat().st_size,
        "params": int(sum(p.numel() for p in main.parameters())),
        "training_data": data["summary"],
        "training": train_info,
        "training_seconds": round(train_seconds, 1),
        "cross_source_from": (previous.get("cross_source_from", previous["version"])
                              if previous and args.only == "main" else None),
        "main_from": previous.get("main_from", previous["version"]) if previous and args.only == "cross" else None,
        "seed": args.seed,
        "quick": bool(args.quick),
        "command": " ".join([".venv/bin/python scripts/train_digits.py", *sys.argv[1:]]),
        "metrics": metrics,
    }
    meta_path = args.out / "digits.json"
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    metrics["ms_per_30_boxes"] = round(time_reader(onnx_path, meta_path, te["x"]), 2)
    metrics["clean_box"] = clean_box_eval(DigitReader(onnx_path, meta_path), args.hw_dir)
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", "utf-8")
    cmd = " ".join([".venv/bin/python scripts/train_digits.py", *sys.argv[1:]])
    write_card(args.out / "MODEL_CARD.md", meta, cm, cmd)
    print(f"wrote {onnx_path} ({meta['onnx_bytes']} bytes), version {meta['version']}, "
          f"T={meta['temperature']}, threshold={threshold}, {time.perf_counter() - t_start:.0f}s total", flush=True)


if __name__ == "__main__":
    main()
