"""Per image, on clean boxes: the error per accepted digit and the images a reader is sure of and
wrong about (scripts/unseen_writers.py reports them), with the packaged reader."""

from __future__ import annotations

import numpy as np
import pytest

from extract.digits import DigitReader
from training.clean_boxes import CLEAN_PX, per_image


@pytest.fixture(scope="module")
def reader() -> DigitReader:
    return DigitReader()


def test_an_empty_box_labelled_a_digit_is_sure_and_wrong(reader: DigitReader) -> None:
    # No ink at all: the reader is sure the box holds no digit, at every resolution; labelled "1",
    # every rendering is an accepted error and every image counts once.
    images = np.zeros((4, 28, 28), np.uint8)
    got = per_image(reader.predict, reader.accept_threshold, images, np.array(["1"] * 4))
    assert got["images"] == 4
    assert got["accepted"] == got["wrong"] == 4 * len(CLEAN_PX)
    assert got["error"] == 1.0 and got["upper95"] == pytest.approx(1.0)
    assert got["sure_and_wrong"] == 4 and got["confusions"] == {"1 as no digit": 4}


def test_real_test_split_digits(reader: DigitReader, shared) -> None:
    from synth.digit_sources import load_mnist

    ds = load_mnist(shared.path("handwriting"), "test")
    idx = np.arange(0, len(ds), 10)  # 200 images spread over the split
    got = per_image(reader.predict, reader.accept_threshold, ds.images[idx], ds.labels[idx])
    assert got["images"] == 200
    # the packaged threshold is chosen for hands never seen: most, not all, clean digits pass it
    assert 0.5 * 200 * len(CLEAN_PX) <= got["accepted"] <= 200 * len(CLEAN_PX)
    assert got["wrong"] <= 2 and got["sure_and_wrong"] <= got["wrong"]
    assert got["upper95"] >= (got["error"] or 0.0)
    assert sum(got["confusions"].values()) == got["sure_and_wrong"]
