"""Look-alike rendering: tags and marks where the layout says, aligned with the official forms."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from schemas.layout import load_layout
from synth.render import box_interior_px, field_box_px, render_page, render_template_page

SHARED_FORMS = Path(__file__).resolve().parents[2].parent / "shared" / "forms"
HEADER = {"provinsi": "JAWA BARAT", "kabkota": "KOTA BANDUNG", "kecamatan": "SUKASARI",
          "desa": "GEGERKALONG", "tps_number": "004"}
_DET = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10))


def _tag(img: np.ndarray, s: float) -> tuple[int, np.ndarray]:
    corners, ids, _ = _DET.detectMarkers(img)
    assert ids is not None and len(ids) == 1
    return int(np.ravel(ids)[0]), (corners[0][0] + 0.5) / s  # pixel centres -> layout units


@pytest.mark.parametrize("form", ["ppwp", "dpr", "dhasil-ppwp"])
def test_tag_is_drawn_at_its_layout_corners(form: str) -> None:
    s = 0.8
    for page in load_layout(form).pages:
        img = render_page(page, s, HEADER)
        assert img.dtype == np.uint8 and img.shape == (round(page.height * s), round(page.width * s))
        tag_id, corners = _tag(img, s)
        assert tag_id == page.tag.id
        # within 1.5 px, corner for corner (the order says which way up the tag is printed)
        assert np.abs(corners - np.array(page.tag.corners)).max() * s < 1.5, (form, page.page)
        for m in page.marks:  # solid corner marks
            for r in m.cells or [m.rect]:
                x0, y0, x1, y1 = field_box_px(r, s)
                assert img[y0 + 2:y1 - 2, x0 + 2:x1 - 2].max() < 100


def test_salinan_renders_frame_and_rules() -> None:
    s = 2.0
    for page in load_layout("ppwp-salinan").pages:
        img = render_page(page, s)
        fr = page.frame
        assert img[int(fr.cy * s), int(fr.x * s):int(fr.x * s) + 3].min() < 100  # left frame edge
        for y in page.ruled_rows:
            assert img[int(round(y * s)) - 2:int(round(y * s)) + 3, int(fr.cx * s)].min() < 128


@pytest.mark.parametrize("form", ["ppwp", "ppwp-salinan", "dpr", "dhasil-ppwp"])
def test_boxes_are_printed_blank_and_header_is_typed(form: str) -> None:
    s = 1.0 if form != "ppwp-salinan" else 3.0
    for page in load_layout(form).pages:
        img = render_page(page, s, HEADER)
        for f in page.fields:
            for b in f.boxes:
                x0, y0, x1, y1 = field_box_px(b, s)
                assert img[y0:y1, x0:x1].min() < 128  # border ink
                i0, j0, i1, j1 = box_interior_px(b, s, 0.15)
                assert img[j0:j1, i0:i1].min() >= 150  # blank (at most the faint guide)
        blank = render_page(page, s)
        tps = next(h.rect for h in page.header if h.id == "tps_number")
        x0, y0, x1, y1 = field_box_px(tps, s)
        assert (img[y0:y1, x0:x1] < 128).sum() > (blank[y0:y1, x0:x1] < 128).sum()


def test_typed_header_is_readable_by_tesseract() -> None:
    pytesseract = pytest.importorskip("pytesseract")
    page = load_layout("ppwp").pages[1]
    img = render_page(page, 2.0, HEADER)
    for key in ("provinsi", "desa"):
        x0, y0, x1, y1 = field_box_px(next(h.rect for h in page.header if h.id == key), 2.0)
        crop = np.pad(img[y0:y1, x0:x1], 20, constant_values=255)
        got = pytesseract.image_to_string(crop, config="--psm 7").strip()
        assert HEADER[key] in got.replace(".", "").strip(), got


def test_static_part_is_cached_and_fast() -> None:
    page = load_layout("dpr").pages[1]
    render_page(page, 1.0)
    t = time.perf_counter()
    for _ in range(10):
        out = render_page(page, 1.0, HEADER)
    assert (time.perf_counter() - t) / 10 < 0.1
    out[0, 0] = 0  # callers get their own writable copy
    assert render_page(page, 1.0)[0, 0] == 255


def test_ppwp_lookalike_aligns_with_the_official_pdf() -> None:
    pdf = SHARED_FORMS / "C.HASIL-PPWP.pdf"
    if not pdf.exists():
        pytest.skip("../shared is absent")
    s = 1.0
    for page in load_layout("ppwp").pages:
        official = render_template_page(pdf, page, s, HEADER)
        look = render_page(page, s)
        assert official.shape == look.shape
        id_a, ca = _tag(official, s)
        id_b, cb = _tag(look, s)
        assert id_a == id_b == page.tag.id and np.abs(ca - cb).max() < 2.0
        # rules, boxes and marks: the look-alike's ink lies on the official ink (within 2 pt)
        ink_official = cv2.dilate((official < 128).astype(np.uint8), np.ones((5, 5), np.uint8))
        for f in page.fields:
            for b in f.boxes:
                x0, y0, x1, y1 = field_box_px(b, s)
                mine = look[y0:y1, x0:x1] < 128
                assert mine.sum() > 0 and ink_official[y0:y1, x0:x1][mine].mean() > 0.97
        for m in page.marks:
            x0, y0, x1, y1 = field_box_px(m.rect, s)
            mine = look[y0:y1, x0:x1] < 128
            assert ink_official[y0:y1, x0:x1][mine].mean() > 0.97


def test_template_page_types_header() -> None:
    pdf = SHARED_FORMS / "C.HASIL-SALINAN-PPWP.pdf"
    if not pdf.exists():
        pytest.skip("../shared is absent")
    page = load_layout("ppwp-salinan").pages[0]
    blank = render_template_page(pdf, page, 2.0)
    typed = render_template_page(pdf, page, 2.0, HEADER)
    assert blank.shape == (round(page.height * 2), round(page.width * 2))
    x0, y0, x1, y1 = field_box_px(next(h.rect for h in page.header if h.id == "provinsi"), 2.0)
    assert (typed[y0:y1, x0:x1] < 128).sum() > (blank[y0:y1, x0:x1] < 128).sum() + 50
