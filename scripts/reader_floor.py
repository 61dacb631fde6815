"""Where digit accuracy stops: networks trained apart, their errors, and the errors they all share.

    .venv/bin/python scripts/reader_floor.py                       (the packaged pair)
    .venv/bin/python scripts/reader_floor.py --nets build/floor/*.onnx --out docs/READER_FLOOR.md \
        --figure docs/reader-consensus-errors.jpg

Reads the harvested test-split page crops (``scripts/harvest_crops.py``; default the model card's
``test-mixed`` and ``test-scan``) with every network given (raw logits, one ONNX file each), and
reports digit errors per network, per pair, and for all of them averaged. A *consensus error* is a
digit box that every network reads as the same wrong digit: networks trained apart (other seeds,
other data mixes) agree on it, so it is not one network's quirk but a digit that reads as
something else -- ambiguous handwriting (a 7 without its bar, a 4 closed into a 9) or a rendering
that destroyed it. Averaging the networks does not mend them, and more networks of the same kind
shrink the set only slowly; the figure shows each one as the networks saw it, so a person can judge.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harvest_crops import QUALITIES, SOURCES  # noqa: E402

from extract.digits import OnnxNet, crops_to_blob  # noqa: E402
from training.consensus import consensus_errors  # noqa: E402

PAGES = ROOT / "build" / "digits-pages"


def load_crops(files: list[Path]) -> dict[str, np.ndarray]:
    keys = ("x", "y", "source", "quality")
    parts = [np.load(f) for f in files]
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def errors(pred: np.ndarray, d: dict[str, np.ndarray], sources: list[int]) -> list[int]:
    """Digit errors in all, then per source (the indices of ``SOURCES`` given)."""
    wrong = (pred != d["y"]) & (d["y"] < 10)
    return [int(wrong.sum()), *(int(wrong[d["source"] == i].sum()) for i in sources)]


def montage(d: dict[str, np.ndarray], idx: np.ndarray, pred: np.ndarray, cols: int = 10) -> np.ndarray:
    tiles = []
    for i in idx:
        t = cv2.cvtColor(cv2.resize(d["x"][i], (96, 96), interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2BGR)
        t = cv2.copyMakeBorder(t, 0, 18, 2, 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(t, f"paper {d['y'][i]} read {pred[i]}", (2, 110), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (0, 0, 200), 1, cv2.LINE_AA)
        tiles.append(t)
    if not tiles:
        return np.full((114, 100, 3), 255, np.uint8)
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % cols)
    return np.vstack([np.hstack(tiles[r:r + cols]) for r in range(0, len(tiles), cols)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    models = ROOT / "extract" / "models"
    ap.add_argument("--nets", type=Path, nargs="+", default=[models / "digits.onnx", models / "digits-second.onnx"])
    ap.add_argument("--pages", type=Path, nargs="+", default=[PAGES / "test-mixed.npz", PAGES / "test-scan.npz"])
    ap.add_argument("--out", type=Path, default=None, help="write the report here (markdown)")
    ap.add_argument("--figure", type=Path, default=None, help="write the consensus errors here (.jpg or .png)")
    ap.add_argument("--about", default="", help="a line on where the networks come from, for the report")
    args = ap.parse_args()
    if len(args.nets) < 2:
        sys.exit("give at least two networks: a consensus needs more than one reader")
    missing = [str(f) for f in [*args.nets, *args.pages] if not f.exists()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)} (harvest test pages with `make model`'s first steps)")
    d = load_crops(args.pages)
    blob = crops_to_blob(d["x"])
    logits = {f.stem: OnnxNet(f).forward(blob) for f in args.nets}
    preds = {k: v.argmax(1) for k, v in logits.items()}
    present = [i for i in range(len(SOURCES)) if (d["source"] == i).any()]
    rows = [(k, errors(p, d, present)) for k, p in preds.items()]
    for a, b in itertools.combinations(logits, 2):
        rows.append((f"{a} + {b}", errors(((logits[a] + logits[b]) / 2).argmax(1), d, present)))
    if len(logits) > 2:
        rows.append(("all averaged", errors(np.mean(list(logits.values()), axis=0).argmax(1), d, present)))
    cons = consensus_errors(list(preds.values()), d["y"])
    first = next(iter(preds.values()))
    n_digits = int((d["y"] < 10).sum())
    by_src = ", ".join(f"{SOURCES[i]} {int(cons[d['source'] == i].sum())}" for i in present)
    by_q = ", ".join(f"{q} {int(cons[d['quality'] == i].sum())}" for i, q in enumerate(QUALITIES))
    # the command as run; the --about paragraph is printed below it rather than inside it
    shown = [str(a).replace(f"{ROOT}/", "") for a in sys.argv[1:]]
    shown = ["(the paragraph below)" if k and shown[k - 1] == "--about" else a for k, a in enumerate(shown)]
    cmd = shlex.join([".venv/bin/python", "scripts/reader_floor.py", *shown])
    lines = [
        "# Where digit accuracy stops", "",
        f"Written by `{cmd}`.", "", *([args.about, ""] if args.about else []),
        f"{n_digits:,} digit boxes of {', '.join(p.name for p in args.pages)} (test-split handwriting, "
        "never trained on, cut from registered generated pages as the pipeline cuts them). Each network "
        "alone, each pair with averaged logits, and all averaged:", "",
        "| networks | digit errors | accuracy | " + " | ".join(SOURCES[i] for i in present) + " |",
        "|---|---|---|" + "---|" * len(present)]
    lines += [f"| {k} | {r[0]} | {1 - r[0] / n_digits:.2%} | " + " | ".join(map(str, r[1:])) + " |"
              for k, r in rows]
    lines += [
        "", f"**Consensus errors: {int(cons.sum())}** of {n_digits:,} digits ({cons.sum() / n_digits:.2%}) are read as "
        f"the same wrong digit by all {len(preds)} networks (by source: {by_src}; by quality: {by_q}). "
        "Averaging the networks does not mend a box they all read the same wrong way, and more networks "
        "of this kind shrink the set only slowly; the figure shows how many of these digits a person "
        f"would misread too. Were every other error mended, accuracy would stop at "
        f"{1 - cons.sum() / n_digits:.2%}.", ""]
    publish(lines, args.out, args.figure, montage(d, np.flatnonzero(cons), first) if args.figure else None,
            "every consensus error as the network saw it: what the paper says, what all read")


def publish(lines: list[str], out: Path | None, figure: Path | None, image: np.ndarray | None, alt: str,
            quality: int = 85) -> None:
    """Write ``image`` to ``figure`` and link it (relative to ``out``), then the text to ``out``
    (when given) and to stdout."""
    if figure is not None and image is not None:
        figure.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(figure), image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        rel = figure.relative_to(out.parent) if out and figure.is_relative_to(out.parent) else figure
        lines = [*lines, f"![{alt}]({rel})", ""]
    text = "\n".join(lines)
    if out:
        out.write_text(text, "utf-8")
        print(f"wrote {out}")
    print(text)


if __name__ == "__main__":
    main()
