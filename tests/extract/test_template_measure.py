"""`pindai forms measure`: a template page measured into the layout part of a form definition.

The proof is on the two official PDFs (skipped when ../shared is absent): every box, bubble,
mark and tag corner of the hand-built ``ppwp`` and ``ppwp-salinan`` layouts is found by the
generic measurement within 1 pt, numbers are grouped as the layouts group them, and what the
measurement finds beyond the layouts is named. A PDF drawn here (no ../shared) checks printed
boxes, ruled cells and the errors.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extract.template_measure import MeasureError, MeasureProblem, match_boxes, measure_page
from flows.cli import EXIT_INPUT, app
from schemas.layout import load_layout

FORMS = Path(__file__).resolve().parents[2].parent / "shared" / "forms"
OFFICIAL = {"ppwp": FORMS / "C.HASIL-PPWP.pdf", "ppwp-salinan": FORMS / "C.HASIL-SALINAN-PPWP.pdf"}
TOL = 1.0  # points


@cache
def _measured(form_type: str, page: int) -> dict:
    return measure_page(OFFICIAL[form_type], page).layout  # 144 dpi: half a point a pixel


def _official(form_type: str) -> None:
    if not OFFICIAL[form_type].exists():
        pytest.skip(f"{OFFICIAL[form_type]} not available (../shared is absent)")


PAGES = [("ppwp", 1), ("ppwp", 2), ("ppwp", 3), ("ppwp-salinan", 1), ("ppwp-salinan", 2)]
# Boxes the measurement finds that the hand-built layouts leave out: the date of the count
# (tanggal / bulan / tahun: 2 + 2 + 4 boxes) next to "DITETAPKAN DI" on the last page.
EXTRA_ROWS = {("ppwp", 3): 1, ("ppwp-salinan", 2): 1}


@pytest.mark.parametrize(("form_type", "page"), PAGES)
def test_every_layout_box_is_measured_within_1pt(form_type: str, page: int) -> None:
    _official(form_type)
    lay = load_layout(form_type).pages[page - 1]
    got = _measured(form_type, page)
    expected = [{**b.model_dump(), "field": f.id} for f in lay.fields for b in f.boxes]
    measured = [{**b, "field": f["id"]} for f in got["fields"] for b in f["boxes"]]
    pairs, missing, extra = match_boxes(expected, measured, TOL)
    assert not missing, f"{form_type} p{page}: layout boxes with no measured box within {TOL} pt: {missing}"
    # Numbers are grouped as the hand-built layout groups them: one measured field per layout field.
    by_field: dict[str, set[str]] = {}
    for e, m, _ in pairs:
        by_field.setdefault(e["field"], set()).add(m["field"])
    assert all(len(v) == 1 for v in by_field.values()), by_field
    assert len({next(iter(v)) for v in by_field.values()}) == len(lay.fields)
    # Anything else found is a whole row the layout leaves out (the date boxes), never stray boxes.
    extra_rows = {m["field"].split("_")[0] for m in extra}
    assert len(extra_rows) == EXTRA_ROWS.get((form_type, page), 0), extra
    assert all(len(f["boxes"]) >= 2 for f in got["fields"])


@pytest.mark.parametrize(("form_type", "page"), PAGES)
def test_registration_is_measured(form_type: str, page: int) -> None:
    """Tag (id and corners), corner marks, and for the tag-less salinan the frame and its rules."""
    _official(form_type)
    lay = load_layout(form_type).pages[page - 1]
    got = _measured(form_type, page)
    assert (got["width"], got["height"]) == (lay.width, lay.height)
    if lay.tag is None:
        assert got["tag"] is None and got["marks"] == []
        _, missing, extra = match_boxes([lay.frame.model_dump()], [got["frame"]], TOL)
        assert not missing and not extra
        assert len(got["ruled_rows"]) == len(lay.ruled_rows)
        assert max(abs(a - b) for a, b in zip(got["ruled_rows"], lay.ruled_rows, strict=True)) <= TOL
        return
    assert got["tag"]["id"] == lay.tag.id
    for a, b in zip(got["tag"]["corners"], lay.tag.corners, strict=True):  # same order: the printed rotation
        assert abs(a[0] - b[0]) <= TOL and abs(a[1] - b[1]) <= TOL
    assert [m["corner"] for m in got["marks"]] == [m.corner for m in lay.marks]
    _, missing, extra = match_boxes([m.rect.model_dump() for m in lay.marks], [m["rect"] for m in got["marks"]], TOL)
    assert not missing and not extra


def test_bubble_columns_are_measured() -> None:
    _official("ppwp")
    lay = load_layout("ppwp").pages[1]
    got = _measured("ppwp", 2)
    with_bubbles = [f for f in got["fields"] if "bubbles" in f]
    assert len(with_bubbles) == len(lay.fields) == 3
    for f, m in zip(lay.fields, with_bubbles, strict=True):
        for col, mcol in zip(f.bubbles, m["bubbles"], strict=True):
            for c, d in zip(col, mcol, strict=True):
                assert max(abs(c.cx - d["cx"]), abs(c.cy - d["cy"]), abs(c.r - d["r"])) <= TOL



@pytest.mark.parametrize(("form_type", "page"), [("dpr", 2), ("dhasil-ppwp", 3)])
def test_look_alike_pages_measure_back(form_type: str, page: int, tmp_path: Path) -> None:
    """A look-alike page rendered blank (synth) into a PDF is measured back box for box and
    number for number: the measurement is not tuned to the two official templates (the D.Hasil
    desa table is 30 rows of five 6-digit numbers)."""
    from PIL import Image

    from synth.render import render_page

    lay = load_layout(form_type).pages[page - 1]
    pdf = tmp_path / "page.pdf"
    Image.fromarray(render_page(lay, 2.0)).save(pdf, "PDF", resolution=144.0)  # 2 px a unit: points
    got = measure_page(pdf, 1).layout
    assert got["tag"]["id"] == lay.tag.id and len(got["marks"]) == 4
    expected = [{**b.model_dump(), "field": f.id} for f in lay.fields for b in f.boxes]
    measured = [{**b, "field": f["id"]} for f in got["fields"] for b in f["boxes"]]
    pairs, missing, extra = match_boxes(expected, measured, TOL)
    assert not missing and not extra, (missing[:5], extra[:5])
    names: dict[str, set[str]] = {}
    for e, m, _ in pairs:
        names.setdefault(e["field"], set()).add(m["field"])
    assert all(len(v) == 1 for v in names.values()) and len(got["fields"]) == len(lay.fields)


# ---------------------------------------------------------------- a template drawn here


def _pdf(content: bytes, w: int = 400, h: int = 300) -> bytes:
    """A one-page PDF whose page draws ``content`` (a PDF content stream)."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R >>" % (w, h),
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"]
    out, offsets = b"%PDF-1.4\n", []
    for i, o in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)


H = 300


def _square(x: float, top: float, side: float, t: float) -> bytes:
    """A printed box whose OUTER border is (x, top, side, side), in top-left coordinates."""
    a = t / 2
    return b"%.2f w %.2f %.2f %.2f %.2f re S\n" % (t, x + a, H - (top + side - a), side - t, side - t)


def _rule(x0: float, y0: float, x1: float, y1: float, t: float = 0.75) -> bytes:
    return b"%.2f w %.2f %.2f m %.2f %.2f l S\n" % (t, x0, H - y0, x1, H - y1)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    c = b""
    for x in (100, 136, 172, 230, 266):  # two numbers of printed boxes: 3 then 2 (30 pt, 3 pt border)
        c += _square(x, 40, 30, 3)
    # A ruled table: a heading row split in two columns, then one row of four 18 pt digit cells.
    x0, top = 100.0, 150.0
    xs = [x0 + 18 * k for k in range(5)]
    c += b"".join(_rule(xs[0], top + dy, xs[4], top + dy) for dy in (0, 14, 32))
    c += _rule(xs[0], top, xs[0], top + 32) + _rule(xs[2], top, xs[2], top + 32) + _rule(xs[4], top, xs[4], top + 32)
    c += _rule(xs[1], top + 14, xs[1], top + 32) + _rule(xs[3], top + 14, xs[3], top + 32)
    for x, top in ((20, 20), (368, 20), (368, 268), (20, 268)):  # solid 12 pt corner marks
        c += b"%d %d 12 12 re f\n" % (x, H - top - 12)
    path = tmp_path_factory.mktemp("drawn") / "template.pdf"
    path.write_bytes(_pdf(c, h=H))
    return path


def test_a_drawn_template(drawn: Path) -> None:
    got = measure_page(drawn, 1).layout
    assert (got["width"], got["height"], got["tag"]) == (400, 300, None)
    assert [m["corner"] for m in got["marks"]] == ["tl", "tr", "br", "bl"]
    _, missing, extra = match_boxes([{"x": x, "y": y, "w": 12, "h": 12} for x, y in ((20, 20), (368, 20), (368, 268),
                                                                                       (20, 268))],
                                    [m["rect"] for m in got["marks"]], 0.6)
    assert not missing and not extra, (missing, extra)
    assert [(f["id"], len(f["boxes"])) for f in got["fields"]] == [
        ("row01_group1", 3), ("row01_group2", 2), ("row02_group1", 2), ("row02_group2", 2)]
    printed = [{"x": x, "y": 40, "w": 30, "h": 30} for x in (100, 136, 172, 230, 266)]
    cells = [{"x": 100 + 18 * k, "y": 164, "w": 18, "h": 18} for k in range(4)]  # edges at the rules' centres
    _, missing, extra = match_boxes(printed + cells, [b for f in got["fields"] for b in f["boxes"]], 0.6)
    assert not missing and not extra, (missing, extra)
    assert "lines" not in got
    lines = measure_page(drawn, 1, lines=True).layout["lines"]  # rendering: the rules drawn above
    horizontal = sorted(round(ln["y0"]) for ln in lines if ln["y0"] == ln["y1"] and ln["x0"] < 101 and ln["x1"] > 171)
    assert horizontal == [150, 164, 182]


def test_errors_are_typed(drawn: Path, tmp_path: Path) -> None:
    cases = [(tmp_path / "nope.pdf", MeasureProblem.NOT_FOUND),
             (Path(__file__), MeasureProblem.NOT_A_PDF)]
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 50)
    cases.append((broken, MeasureProblem.UNREADABLE_PDF))
    for path, problem in cases:
        with pytest.raises(MeasureError) as exc:
            measure_page(path, 1)
        assert exc.value.problem is problem, (path, exc.value)
    for page in (0, 2):
        with pytest.raises(MeasureError) as exc:
            measure_page(drawn, page)
        assert exc.value.problem is MeasureProblem.NO_SUCH_PAGE
    huge = tmp_path / "huge.pdf"
    huge.write_bytes(_pdf(b"", w=14000, h=14000))  # 194 x 194 inches: 2.8 GP at 144 dpi
    with pytest.raises(MeasureError) as exc:
        measure_page(huge, 1)
    assert exc.value.problem is MeasureProblem.TOO_MANY_PIXELS


def test_cli_writes_the_definition_part_and_says_one_line(drawn: Path, tmp_path: Path) -> None:
    import json

    out = tmp_path / "measured.json"
    res = CliRunner().invoke(app, ["forms", "measure", str(drawn), "--page", "1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "4 fields, 9 boxes" in res.output
    assert [f["id"] for f in json.loads(out.read_text("utf-8"))["fields"]][0] == "row01_group1"
    res = CliRunner().invoke(app, ["forms", "measure", str(drawn), "--page", "3"])
    assert res.exit_code == EXIT_INPUT
    assert res.output.strip().splitlines() == ["error: no_such_page: template.pdf has 1 page(s), not page 3"]
