"""Real handwritten digit sources, and the one train/test split everyone uses.

Sources: MNIST t10k and ARDIS IV (from ``../shared/handwriting``), or a folder of
``DIR/<label>/*.png`` (labels 0-9 and X). Images are returned as uint8 N x 28 x 28,
**white ink on black** (the MNIST convention), labels as strings ("0"-"9", "X").

The split is fixed so that generated test pages never contain digits the reader was trained on:
the test split of a source is every index ``i`` with ``i % 5 == 0`` in the source's native
order (20%); training uses the rest.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

Split = Literal["train", "test", "all"]
SOURCES = ("mnist", "ardis")


@dataclass(frozen=True)
class DigitSet:
    source: str
    images: np.ndarray  # uint8 (N, 28, 28), white on black
    labels: np.ndarray  # str (N,)

    def __len__(self) -> int:
        return len(self.labels)


def default_handwriting_dir() -> Path | None:
    """``../shared/handwriting`` beside the project checkout, when present."""
    here = Path(__file__).resolve().parents[1]
    cand = here.parent / "shared" / "handwriting"
    return cand if cand.is_dir() else None


def split_mask(n: int, split: Split) -> np.ndarray:
    idx = np.arange(n)
    if split == "all":
        return np.ones(n, bool)
    test = idx % 5 == 0
    return test if split == "test" else ~test


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(hw_dir: Path, split: Split = "all") -> DigitSet:
    images = _read_idx(hw_dir / "mnist-t10k-images-idx3-ubyte.gz")
    labels = _read_idx(hw_dir / "mnist-t10k-labels-idx1-ubyte.gz").astype(str)
    m = split_mask(len(labels), split)
    return DigitSet("mnist", images[m], labels[m])


def load_ardis(hw_dir: Path, split: Split = "all") -> DigitSet:
    with np.load(hw_dir / "ardis-iv-train.npz") as npz:
        images, labels = npz["images"], npz["labels"].astype(str)
    m = split_mask(len(labels), split)
    return DigitSet("ardis", images[m], labels[m])


def load_png_dir(root: Path, split: Split = "all") -> DigitSet:
    """``root/<label>/*.png`` with dark ink on light paper (as people scan them) or white on black."""
    imgs: list[np.ndarray] = []
    labels: list[str] = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        label = label_dir.name.upper()
        if label not in {*"0123456789", "X"}:
            continue
        for f in sorted(label_dir.glob("*.png")):
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                continue
            if img.mean() > 127:  # dark ink on light paper -> white on black
                img = 255 - img
            imgs.append(cv2.resize(img, (28, 28), interpolation=cv2.INTER_AREA))
            labels.append(label)
    if not imgs:
        raise ValueError(f"no labelled PNGs under {root} (expected {root}/<0-9|X>/*.png)")
    images = np.stack(imgs)
    lab = np.array(labels)
    m = split_mask(len(lab), split)
    return DigitSet(root.name, images[m], lab[m])


def load_sources(hw_dir: Path, sources: tuple[str, ...] = SOURCES, split: Split = "all") -> list[DigitSet]:
    loaders = {"mnist": load_mnist, "ardis": load_ardis}
    return [loaders[s](hw_dir, split) for s in sources]
