"""The printed header: crop cleaning (the dotted write-on line must not give letters tails), and
TPS numbers counted only when two differently set-up reads agree (real Tesseract)."""

from __future__ import annotations

import cv2
import numpy as np

import extract.header as header
from extract.header import CROP_HEIGHT, _clean_crop, read_headers


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


def _typed(text: str) -> np.ndarray:
    crop = np.full((CROP_HEIGHT, 40 + 22 * len(text)), 235, np.uint8)
    cv2.putText(crop, text, (8, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 30, 2, cv2.LINE_AA)
    return _clean_crop(crop)


def test_a_clean_tps_number_is_confirmed_by_the_second_read() -> None:
    got = read_headers([{"tps_number": _typed("030")}, {"tps_number": _typed("107")}])
    assert [g.get("tps_number") for g in got] == ["030", "107"]


def test_a_number_the_second_read_disputes_is_dropped(monkeypatch) -> None:
    """Replayed second read (psm 6, digits only): it saw "080" where the first read "030"."""
    calls = []

    def replay(crops, lang, psm, timeout, whitelist=None):
        calls.append((lang, psm, whitelist, len(crops)))
        return [[(0, "080", 40.0)] for _ in crops]

    results = [{"tps_number": "030", "desa": "SUKAMAJU"}, {"desa": "CIBEUNYING"}]
    pages = [{"tps_number": _typed("030")}, {"tps_number": _typed("031")}]
    monkeypatch.setattr(header, "_ocr_sheet", replay)
    header._confirm_numbers(results, pages, timeout=20)
    assert results == [{"desa": "SUKAMAJU"}, {"desa": "CIBEUNYING"}]
    assert calls == [("eng", 6, "0123456789", 1)]  # only the page the first read gave a number


def test_many_crops_are_read_in_several_sheets(monkeypatch) -> None:
    monkeypatch.setattr(header, "MAX_CROPS_PER_SHEET", 2)
    texts = ["011", "204", "350", "47", "9"]
    got = header._ocr_sheet([_typed(t) for t in texts], lang="eng", psm=6, timeout=20, whitelist="0123456789")
    assert ["".join(t for _, t, _ in ws) for ws in got] == texts
