"""The printed header: crop cleaning (the dotted write-on line must not give letters tails), and
TPS numbers counted only when two independent reads agree (real Tesseract, the real digit reader)."""

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
    """Replayed digits-only read (psm 6): it saw "080" where the first read "030"."""
    calls = []

    def replay(crops, lang, psm, timeout, whitelist=None):
        calls.append((lang, psm, whitelist, len(crops)))
        return [[(0, "080", 40.0)] for _ in crops]

    results = [{"desa": "SUKAMAJU"}, {"desa": "CIBEUNYING"}]
    pages = [{"tps_number": _typed("030")}, {"tps_number": _typed("031")}]
    monkeypatch.setattr(header, "_ocr_sheet", replay)
    header._vote_numbers(results, pages, first=["030", None], typed=[None, None], timeout=20)
    assert results == [{"desa": "SUKAMAJU"}, {"desa": "CIBEUNYING"}]
    assert calls == [("eng", 6, "0123456789", 1)]  # only the page another read gave a number


def test_two_of_three_reads_agreeing_give_the_number(monkeypatch) -> None:
    """The digit reader's reading is a vote: with the digits-only read it confirms a number, and
    two reads outvote a third; two numbers with one vote each give none."""
    monkeypatch.setattr(header, "_ocr_sheet", lambda crops, *a, **k: [[(0, "030", 40.0)] for _ in crops])
    pages = [{"tps_number": _typed("030")} for _ in range(4)]
    results: list[dict[str, str]] = [{} for _ in pages]
    header._vote_numbers(results, pages, first=[None, "031", "031", None], typed=["030", "030", "031", "080"],
                         timeout=20)
    assert [r.get("tps_number") for r in results] == ["030", "030", "031", None]


def test_the_digit_readers_vote_with_real_tesseract() -> None:
    got = read_headers([{"tps_number": _typed("030")}, {"tps_number": _typed("107")}], typed_numbers=["030", "108"])
    assert [g.get("tps_number") for g in got] == ["030", "107"]  # "108" is outvoted by two Tesseract reads


def test_the_digit_reader_reads_a_typed_number_from_a_registered_page() -> None:
    """A typed number in the header rect of a page (identity homography, 3 px per point): the
    glyphs are found on the dotted line, set in boxes, and read by the packaged reader."""
    from extract.digits import DigitReader
    from extract.typed_number import glyphs, number_boxes, read_typed_number
    from schemas.layout import Rect

    rect = Rect(x=20, y=10, w=50, h=26)
    scale = 3.0
    page = np.full((150, 300), 232, np.uint8)
    x, y = int(rect.x * scale) + 6, int((rect.y + rect.h) * scale) - 12
    cv2.putText(page, "041", (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.6, 35, 3, cv2.LINE_AA)
    for dx in range(int(rect.x * scale), int((rect.x + rect.w) * scale), 7):
        cv2.circle(page, (dx, y + 4), 1, 70, -1)
    H = np.diag([scale, scale, 1.0])
    boxes = number_boxes(page, H, rect)
    assert boxes.shape == (3, 32, 32)
    assert read_typed_number(DigitReader(), boxes) == "041"
    assert glyphs(np.full((40, 120), 230, np.uint8)) == []  # an empty header rect has nothing to read
    assert read_typed_number(DigitReader(), number_boxes(np.full((150, 300), 232, np.uint8), H, rect)) is None
