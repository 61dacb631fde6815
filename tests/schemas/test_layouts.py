"""The packaged layouts: valid, complete, and (for the official forms) truly measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schemas.layout import FormType, Rect, all_layouts, load_layout, tag_index

SHARED_FORMS = Path(__file__).resolve().parents[2].parent / "shared" / "forms"

PAGE1 = [f"{stem}_{s}" for stem in ("dpt", "voters_dpt", "voters_dptb", "voters_dpk", "voters_total")
         for s in ("l", "p", "total")]
PAGE1 += ["ballots_received", "ballots_used", "ballots_damaged", "ballots_unused",
          "disabled_voters_l", "disabled_voters_p", "disabled_voters_total"]
VOTES = ["votes_1", "votes_2", "votes_3"]
TOTALS = ["valid_votes", "invalid_votes", "total_votes"]


def test_every_layout_validates_and_tags_are_unique() -> None:
    layouts = all_layouts()
    assert set(layouts) == set(FormType)
    ids = tag_index()
    assert {k for k in ids if 100 < k < 200} == {101, 102, 103}
    assert ids[101] == (FormType.PPWP, 1) and ids[303] == (FormType.DHASIL_PPWP, 3)
    for ft, layout in layouts.items():
        for page in layout.pages:
            assert {h.id for h in page.header} == {"provinsi", "kabkota", "kecamatan", "desa", "tps_number",
                                                   "page_label"}, (ft, page.page)
            assert page.private, (ft, page.page)
            for f in page.fields:
                for b in f.boxes:
                    assert 0 < b.x < page.width - b.w and 0 < b.y < page.height - b.h


def test_ppwp_fields() -> None:
    lay = load_layout("ppwp")
    assert [[f.id for f in p.fields] for p in lay.pages] == [PAGE1, VOTES, TOTALS]
    assert all(len(f.boxes) == 3 for f in lay.pages[0].fields)
    for f in lay.pages[1].fields:
        assert f.bubbles is not None and set(f.extra) == {"tally", "words"} and f.guide == "seven_segment"
        for box, col in zip(f.boxes, f.bubbles, strict=True):  # 0..9 top to bottom, under the box
            assert [c.cy for c in col] == sorted(c.cy for c in col) and col[0].cy > box.y + box.h
            assert all(abs(c.cx - box.cx) < 2 for c in col)
    assert "tally" in lay.field("invalid_votes").extra
    assert [p.tag.id for p in lay.pages] == [101, 102, 103]
    assert all(len(p.marks) == 4 for p in lay.pages)
    assert lay.field("dpt_l").section == "I.A" and lay.field("ballots_unused").section == "II.4"


def test_salinan_fields_frame_and_rows() -> None:
    lay = load_layout("ppwp-salinan")
    assert [[f.id for f in p.fields] for p in lay.pages] == [PAGE1, VOTES + TOTALS]
    p1, p2 = lay.pages
    assert p1.tag is None and p1.frame is not None and p2.frame is not None
    assert p1.ruled_rows != p2.ruled_rows and len(p1.ruled_rows) > 10 and len(p2.ruled_rows) > 10
    for p in lay.pages:
        assert all(p.frame.y < y < p.frame.y + p.frame.h for y in p.ruled_rows)


def test_lookalike_fields() -> None:
    dpr = load_layout("dpr")
    ids = dpr.field_ids()
    assert ids[:len(PAGE1)] == PAGE1 and ids[-3:] == TOTALS
    for nn in range(1, 19):
        party = [f"party_{nn:02d}_votes"] + [f"party_{nn:02d}_cand_{k}" for k in range(1, 9)]
        party += [f"party_{nn:02d}_total"]
        assert all(i in ids for i in party)
    assert len(ids) == len(PAGE1) + 18 * 10 + 3
    assert [p.tag.id for p in dpr.pages] == list(range(201, 201 + len(dpr.pages)))
    dh = load_layout("dhasil-ppwp")
    assert all(len(dh.field(i).boxes) == 6 for i in PAGE1 + VOTES + TOTALS)
    desa = [f"desa_{r:02d}_{c}" for r in range(1, 31)
            for c in ("votes_1", "votes_2", "votes_3", "valid_votes", "invalid_votes")]
    assert [f.id for f in dh.pages[-1].fields] == desa
    assert len(dh.pages[-1].row_labels) == 30
    assert all(len(dh.field(i).boxes) == 6 for i in desa)


# ---------------------------------------------------------------- measured on the official PDFs

def _ring_and_interior(img: np.ndarray, r: Rect, s: float, inset: float) -> tuple[float, float]:
    """Mean darkness (0..1) of the four border strips and of the interior of ``r``."""
    x0, y0, x1, y1 = (int(round(v * s)) for v in (r.x, r.y, r.x + r.w, r.y + r.h))
    k = max(1, int(round(inset * s)))
    dark = (img < 128).astype(np.float32)
    # a strip straddles each edge (k pixels on both sides): every position along it must hit ink
    top = dark[max(0, y0 - k):y0 + k, x0 + 2 * k:x1 - 2 * k].max(axis=0).mean()
    bottom = dark[y1 - k:y1 + k, x0 + 2 * k:x1 - 2 * k].max(axis=0).mean()
    left = dark[y0 + 2 * k:y1 - 2 * k, max(0, x0 - k):x0 + k].max(axis=1).mean()
    right = dark[y0 + 2 * k:y1 - 2 * k, x1 - k:x1 + k].max(axis=1).mean()
    ring = float(min(top, bottom, left, right))
    m = 3 * k
    interior = float(dark[y0 + m:y1 - m, x0 + m:x1 - m].mean())
    return ring, interior


@pytest.mark.parametrize("form, pdf, dpi, inset", [("ppwp", "C.HASIL-PPWP.pdf", 144, 2.0),
                                                    ("ppwp-salinan", "C.HASIL-SALINAN-PPWP.pdf", 288, 0.9)])
def test_measured_boxes_sit_on_the_printed_borders(form: str, pdf: str, dpi: float, inset: float) -> None:
    path = SHARED_FORMS / pdf
    if not path.exists():
        pytest.skip("../shared is absent")
    from extract._exec.pdftoppm import rasterize_page

    s = dpi / 72
    for page in load_layout(form).pages:
        img = rasterize_page(path, page.page, dpi)
        assert abs(img.shape[1] - page.width * s) < 2 and abs(img.shape[0] - page.height * s) < 2
        for f in page.fields:
            for b in f.boxes:
                ring, interior = _ring_and_interior(img, b, s, inset)
                assert ring > 0.95, (form, f.id, b, ring)  # every border strip is ink all along
                if f.guide is None:
                    assert interior < 0.01, (form, f.id, b, interior)  # nothing printed inside
            for col in f.bubbles or []:
                for c in col:  # the circle's ink ring: dark on the measured radius, white at the centre
                    angles = np.linspace(0, 2 * np.pi, 36, endpoint=False)
                    xs = np.floor((c.cx + (c.r - 0.4) * np.cos(angles)) * s).astype(int)
                    ys = np.floor((c.cy + (c.r - 0.4) * np.sin(angles)) * s).astype(int)
                    assert (img[ys, xs] < 200).mean() > 0.85, (f.id, c)
        for m in page.marks:
            for cell in m.cells:
                x0, y0 = int(cell.x * s) + 2, int(cell.y * s) + 2
                x1, y1 = int((cell.x + cell.w) * s) - 2, int((cell.y + cell.h) * s) - 2
                assert (img[y0:y1, x0:x1] < 128).mean() > 0.98
        if page.frame is not None:
            fr = page.frame
            for y in page.ruled_rows:  # each ruled row is a dark line across the frame's middle
                row = img[int(round(y * s)) - 2:int(round(y * s)) + 3, int(fr.cx * s)]
                assert row.min() < 128, (page.page, y)
