"""The printed header's crop cleaning: the dotted write-on line must not give letters tails."""

from __future__ import annotations

import cv2
import numpy as np

from extract.header import CROP_HEIGHT, _clean_crop


def _typed_on_dots(text: str, touching: bool) -> np.ndarray:
    """A header crop: ``text`` typed on a dotted write-on line, the dots touching the feet or not."""
    crop = np.full((CROP_HEIGHT, 140), 225, np.uint8)
    cv2.putText(crop, text, (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 40, 2, cv2.LINE_AA)
    y = 42 if touching else 47
    for x in range(2, 140, 7):
        cv2.circle(crop, (x, y), 1, 60, -1)
    return crop


def test_dots_are_removed_and_letters_keep_their_shape() -> None:
    for touching in (False, True):
        crop = _typed_on_dots("030", touching)
        clean = _clean_crop(crop) < 128
        assert not clean[46:].any(), "dots or tails below the text remain"
        # the letters themselves survive: three glyphs, as tall as before
        n, _, stats, _ = cv2.connectedComponentsWithStats(clean.astype(np.uint8))
        assert n - 1 == 3
        assert stats[1:, cv2.CC_STAT_HEIGHT].min() >= 15


def test_no_dotted_line_changes_nothing() -> None:
    crop = np.full((CROP_HEIGHT, 140), 225, np.uint8)
    cv2.putText(crop, "PONDOK", (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 40, 2, cv2.LINE_AA)
    clean = _clean_crop(crop) < 128
    assert np.array_equal(clean, crop < 225 * 0.62)
