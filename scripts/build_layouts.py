"""Measure the official form templates and write ``schemas/layouts/*.json``.

Run from the repo root with ../shared beside it::

    .venv/bin/python scripts/build_layouts.py

The official PDFs are rasterized (poppler, through extract._exec.pdftoppm) and every coordinate
is *measured* on the rendering: digit boxes are square contours, bubbles circular contours,
table rules long runs of dark pixels, corner marks solid blobs, the AprilTag is found with
cv2.aruco (the generic detectors live in extract/template_measure.py, which `pindai forms measure`
uses too). Only coarse search windows (which band of the page holds what) and the field names
are given here, by hand.
The look-alike layouts (dpr, dhasil-ppwp) are constructed here in the official plano's visual
language, reusing its measured geometry (marks, tag, page 1). The JSON this writes is committed:
the product never needs ../shared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extract._exec.pdftoppm import rasterize_page  # noqa: E402
from extract.template_measure import (  # noqa: E402
    apriltag,
    bubble_columns,
    dark,
    dotted_as_lines,
    dotted_lines,
    group_rows,
    h_lines,
    ink_bbox,
    mark_cells,
    marks,
    r2,
    rect,
    rules_as_lines,
    square_boxes,
    table_frame,
    white_cells,
)
from schemas.layout import FormLayout  # noqa: E402

SHARED = ROOT.parent / "shared" / "forms"
PPWP_PDF = SHARED / "C.HASIL-PPWP.pdf"
SALINAN_PDF = SHARED / "C.HASIL-SALINAN-PPWP.pdf"
OUT = ROOT / "schemas" / "layouts"

PPWP_DPI = 144.0
SALINAN_DPI = 288.0


# ---------------------------------------------------------------- labels

LPT = [("l", "Laki-Laki (L)", "men"), ("p", "Perempuan (P)", "women"), ("total", "Jumlah (L+P)", "total")]

PAGE1_ROWS = [  # (field id stem, section, label_id, label_en, split into L/P/total)
    ("dpt", "I.A", "Jumlah Pemilih dalam Daftar Pemilih Tetap (DPT)", "Registered voters (DPT)", True),
    ("voters_dpt", "I.B.1", "Jumlah pengguna hak pilih dalam Daftar Pemilih Tetap (DPT)",
     "Voters from the DPT who voted", True),
    ("voters_dptb", "I.B.2", "Jumlah pengguna hak pilih dalam Daftar Pemilih Tambahan (DPTb)",
     "Voters from the additional list (DPTb) who voted", True),
    ("voters_dpk", "I.B.3", "Jumlah pengguna hak pilih dalam Daftar Pemilih Khusus (DPK)",
     "Voters from the special list (DPK) who voted", True),
    ("voters_total", "I.B.4", "Jumlah Pengguna Hak Pilih (B.1 + B.2 + B.3)",
     "All voters who voted (B.1 + B.2 + B.3)", True),
    ("ballots_received", "II.1", "Jumlah surat suara yang diterima, termasuk surat suara cadangan 2% dari DPT",
     "Ballots received, including the 2% reserve over DPT", False),
    ("ballots_used", "II.2", "Jumlah surat suara yang digunakan", "Ballots used", False),
    ("ballots_damaged", "II.3",
     "Jumlah surat suara yang dikembalikan oleh pemilih (karena rusak atau keliru coblos)",
     "Ballots returned damaged or mis-punched", False),
    ("ballots_unused", "II.4",
     "Jumlah surat suara yang tidak digunakan/tidak terpakai, termasuk sisa surat suara cadangan",
     "Ballots unused, including the leftover reserve", False),
    ("disabled_voters", "III", "Jumlah seluruh Pemilih disabilitas yang menggunakan hak pilih",
     "Voters with disabilities who voted", True),
]

VOTES_ROWS = [(f"votes_{k}", "IV", f"Jumlah Suara Sah Pasangan Calon Nomor Urut {k}",
               f"Valid votes for candidate pair {k}") for k in (1, 2, 3)]
TOTAL_ROWS = [
    ("valid_votes", "V.A", "Jumlah Seluruh Suara Sah (IV.1 + IV.2 + IV.3)", "Total valid votes"),
    ("invalid_votes", "V.B", "Jumlah Suara Tidak Sah", "Invalid votes"),
    ("total_votes", "V.C", "Jumlah Seluruh Suara Sah dan Suara Tidak Sah (V.A + V.B)",
     "Total votes, valid and invalid (V.A + V.B)"),
]


def page1_fields(rows_of_boxes: list[list[tuple]]) -> list[dict]:
    """Map measured rows of boxes (top to bottom) onto the page-1 fields."""
    assert len(rows_of_boxes) == len(PAGE1_ROWS), [len(r) for r in rows_of_boxes]
    fields = []
    for (stem, sec, lid, len_, split), boxes in zip(PAGE1_ROWS, rows_of_boxes, strict=True):
        if split:
            assert len(boxes) == 9, (stem, len(boxes))
            for k, (suffix, lab_id, lab_en) in enumerate(LPT):
                fields.append({"id": f"{stem}_{suffix}", "section": sec, "label_id": f"{lid} - {lab_id}",
                               "label_en": f"{len_}, {lab_en}",
                               "boxes": [rect(*b) for b in boxes[3 * k:3 * k + 3]]})
        else:
            assert len(boxes) == 3, (stem, len(boxes))
            fields.append({"id": stem, "section": sec, "label_id": lid, "label_en": len_,
                           "boxes": [rect(*b) for b in boxes]})
    return fields


def simple_fields(spec: list[tuple], rows_of_boxes: list[list[tuple]]) -> list[dict]:
    assert len(spec) == len(rows_of_boxes), (len(spec), len(rows_of_boxes))
    return [{"id": fid, "section": sec, "label_id": lid, "label_en": len_,
             "boxes": [rect(*b) for b in boxes]}
            for (fid, sec, lid, len_), boxes in zip(spec, rows_of_boxes, strict=True)]


HEADER_ORDER = ["provinsi", "kecamatan", "kabkota", "desa", "tps_number"]


def header_fields(img: np.ndarray, s: float, window: tuple, label_window: tuple,
                  above: float, below: float, max_gap_pt: float = 12) -> tuple[list[dict], list]:
    """Header write-on areas: the dotted lines after Provinsi, Kab/Kota, Kecamatan, Desa, Nomor TPS.

    The dotted lines come in reading order (provinsi, kecamatan / kabkota, desa / tps, tps name);
    the rect spans the dots and ``above`` units over them (where the name is typed or written).
    """
    dots = dotted_lines(img, s, window, max_gap_pt=max_gap_pt)
    assert len(dots) >= 5, dots
    out = []
    for hid, (x0, x1, y) in zip(HEADER_ORDER, dots[:5], strict=True):
        if hid == "tps_number":  # the number ends at the "(" that opens the TPS name, if printed on the dots
            x1 = _bracket_x(img, s, x0, x1, y) or x1
        out.append({"id": hid, "rect": rect(x0 - 2, y - above, x1 - x0 + 4, above + below)})
    lab = ink_bbox(img, s, label_window)
    pad = 0.2 * lab["h"]  # a little paper around the printed "Halaman N dari M" for Tesseract
    out.append({"id": "page_label", "rect": rect(lab["x"] - pad, lab["y"] - pad, lab["w"] + 2 * pad,
                                                 lab["h"] + 2 * pad)})
    return out, dots


def _bracket_x(img: np.ndarray, s: float, x0: float, x1: float, y: float) -> float | None:
    """x of a tall thin glyph ("(") standing on a dotted line between x0 and x1, if any."""
    a, b = int((y - 8) * s), int((y + 3) * s)
    sub = dark(img[a:b, int(x0 * s):int(x1 * s)])
    n, _, st, _ = cv2.connectedComponentsWithStats(sub, connectivity=8)
    xs = [st[i][0] for i in range(1, n) if st[i][3] / s > 3.5 and st[i][2] < st[i][3] / 2]
    return x0 + min(xs) / s - 1.5 if xs else None


def signature_blocks(img: np.ndarray, s: float, y_from: float, min_len: float = 600) -> list[dict]:
    """The two signature blocks (KPPS officers; witnesses): personal data."""
    hs = [d for d in h_lines(img, s, min_len) if d["y"] > y_from]
    assert len(hs) >= 6, hs
    x0, x1 = hs[0]["x0"], hs[0]["x1"]
    top, mid, bot = hs[0]["y"] - hs[0]["t"] / 2, hs[2]["y"], hs[5]["y"] + hs[5]["t"] / 2
    return [rect(x0, top, x1 - x0, mid - top), rect(x0, mid, x1 - x0, bot - mid)]


def build_ppwp() -> dict:
    s = PPWP_DPI / 72
    pages = []
    for pg in (1, 2, 3):
        img = rasterize_page(PPWP_PDF, pg, PPWP_DPI)
        found = apriltag(img, s)
        assert found is not None, f"page {pg}: no AprilTag"
        tag_id, corners = found
        mk = marks(img, s)
        assert [m["corner"] for m in mk] == ["tl", "tr", "br", "bl"], mk
        for m in mk:
            m["cells"] = mark_cells(img, s, m)
        page: dict = {"form_type": "ppwp", "page": pg, "width": 1700.79, "height": 2551.18, "marks": mk,
                      "tag": {"family": "36h10", "id": tag_id, "corners": corners}}
        if pg == 1:
            hdr, dots = header_fields(img, s, (300, 550, 1300, 700), (1362, 281, 1510, 302), 22, 4)
        else:
            hdr, dots = header_fields(img, s, (400, 230, 1350, 345), (1362, 281, 1510, 302), 22, 4)
        page["header"] = hdr
        boxes = square_boxes(img, s, 40, 70, window=(800, 900 if pg == 1 else 440, 1500, 2300))
        rows = group_rows(boxes)
        if pg == 1:
            page["fields"] = page1_fields(rows)
            sig_from = 2090
        elif pg == 2:
            fields = simple_fields(VOTES_ROWS, rows)
            hl = {round(d["y"], 1): d for d in h_lines(img, s, 150)}
            ys = sorted(hl)
            for f, row in zip(fields, rows, strict=True):
                f["guide"] = "seven_segment"
                top = row[0][1]
                block_top = max(y for y in ys if y < top)  # the rule above this candidate's block
                grid_bot = min(y for y in ys if y > top and hl[y]["x1"] < 1300)  # tally grid's bottom
                block_bot = min(y for y in ys if y > grid_bot)
                f["bubbles"] = bubble_columns(img, s, row, block_bot)
                f["extra"] = {
                    "tally": rect(513.2, block_top, 1275.8 - 513.2, grid_bot - block_top),
                    "words": rect(206.8, grid_bot, 1275.8 - 206.8, block_bot - grid_bot),
                }
            page["fields"] = fields
            sig_from = 2090
        else:
            fields = simple_fields(TOTAL_ROWS, rows[:3])
            fields[0]["extra"] = {"words": rect(513.2, 447.8, 1275.8 - 513.2, 549.8 - 447.8)}
            fields[1]["extra"] = {"tally": rect(513.2, 592.2, 1275.8 - 513.2, 825.8 - 592.2)}
            fields[2]["extra"] = {"words": rect(513.2, 861.8, 1275.8 - 513.2, 963.8 - 861.8)}
            page["fields"] = fields
            sig_from = 1150
        page["private"] = signature_blocks(img, s, sig_from)
        page["lines"] = [ln for ln in rules_as_lines(img, s, 40) if not (200 < ln["x0"] < 290 and ln["y0"] < 330)]
        page["lines"] += dotted_as_lines(dots, 2.5)
        page["printed"] = ppwp_printed(pg, page["private"][0]["y"])
        pages.append(page)
    return {"form_type": "ppwp", "title": "Model C.Hasil-PPWP (plano), Pemilu 2024",
            "source": "official 2024 template C.HASIL-PPWP.pdf, measured by scripts/build_layouts.py",
            "pages": pages}


def build_salinan() -> dict:
    s = SALINAN_DPI / 72
    pages = []
    for pg in (1, 2):
        img = rasterize_page(SALINAN_PDF, pg, SALINAN_DPI)
        found = table_frame(img, s)
        assert found is not None, f"page {pg}: no table frame"
        frame, ruled = found
        page: dict = {"form_type": "ppwp-salinan", "page": pg, "width": 595.22, "height": 842.0,
                      "frame": frame, "ruled_rows": ruled}
        if pg == 1:
            hdr, dots = header_fields(img, s, (180, 262, 480, 305), (462, 203, 520, 216), 10, 2, 5)
            cells = [c for c in white_cells(img, s, 10, 40, (60, 400, 540, 710)) if c[0] > 335]
            page["fields"] = page1_fields([r for r in group_rows(cells, 4) if len(r) in (3, 9)])
            page["private"] = signature_blocks(img, s, 705, 300)
        else:
            hdr, dots = header_fields(img, s, (180, 58, 480, 100), (462, 76, 520, 89), 10, 2, 5)
            cells = [c for c in white_cells(img, s, 10, 40, (60, 120, 540, 550)) if c[0] > 440]
            rows = [r for r in group_rows(cells, 4) if len(r) == 3]
            page["fields"] = simple_fields(VOTES_ROWS + TOTAL_ROWS, rows)
            page["private"] = signature_blocks(img, s, 590, 300)
        page["header"] = hdr
        fr = page["frame"]
        page["lines"] = [ln for ln in rules_as_lines(img, s, 15)
                         if fr["y"] - 1 <= ln["y0"] <= fr["y"] + fr["h"] + 1 and ln["t"] <= 1.6
                         and not (95 <= ln["x0"] <= 135 and ln["y0"] < fr["y"] + 110)]  # no logo strokes
        for y in ruled:  # rules merged into a shaded band at the 230 threshold: add them back
            if not any(ln["y0"] == ln["y1"] and abs(ln["y0"] - y) < 1 for ln in page["lines"]):
                page["lines"].append(hline(fr["x"] + 24, fr["x"] + fr["w"] - 24, y, 0.75))
        page["lines"] += dotted_as_lines(dots, 0.75)
        page["printed"] = salinan_printed(pg, hdr)
        pages.append(page)
    return {"form_type": "ppwp-salinan", "title": "Model C.Hasil Salinan-PPWP (A4), Pemilu 2024",
            "source": "official 2024 template C.HASIL-SALINAN-PPWP.pdf, measured by scripts/build_layouts.py",
            "pages": pages}


# ---------------------------------------------------------------- look-alike layouts
# Plano-sized pages in the official plano's visual language: the measured marks, the tag at the
# same place (printed upright), the page-2 style header, the signature blocks at the bottom.

INK = 0


def hline(x0: float, x1: float, y: float, t: float, gray: int = INK) -> dict:
    return {"x0": r2(x0), "y0": r2(y), "x1": r2(x1), "y1": r2(y), "t": t, "gray": gray}


def vline(x: float, y0: float, y1: float, t: float, gray: int = INK) -> dict:
    return {"x0": r2(x), "y0": r2(y0), "x1": r2(x), "y1": r2(y1), "t": t, "gray": gray}


def outline(x: float, y: float, w: float, h: float, t: float) -> list[dict]:
    """The four rules of a rectangle whose OUTER border is (x, y, w, h)."""
    a = t / 2
    return [hline(x, x + w, y + a, t), hline(x, x + w, y + h - a, t),
            vline(x + a, y, y + h, t), vline(x + w - a, y, y + h, t)]


def text(t: str, x: float, y: float, size: float, bold: bool = False, align: str = "left",
         italic: bool = False, gray: int = INK) -> dict:
    return {"text": t, "x": r2(x), "y": r2(y), "size": size, "bold": bold, "italic": italic,
            "align": align, "gray": gray}


def digit_boxes(x: float, y: float, n: int, size: float, pitch: float, t: float) -> tuple[list[dict], list]:
    boxes, lines = [], []
    for k in range(n):
        boxes.append(rect(x + k * pitch, y, size, size))
        lines += outline(x + k * pitch, y, size, size, t)
    return boxes, lines


def plano_chrome(ppwp: dict, form_type: str, page_no: int, n_pages: int, tag_id: int, model: str,
                 election: str) -> dict:
    """Everything but the body: marks, tag, header, MODEL box, signature blocks, footer."""
    p2 = ppwp["pages"][1]
    tag = ppwp["pages"][0]["tag"]["corners"]
    xs, ys = [c[0] for c in tag], [c[1] for c in tag]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    page = {"form_type": form_type, "page": page_no, "width": 1700.79, "height": 2551.18,
            "marks": ppwp["pages"][0]["marks"],
            # printed upright: corner 0 is the tag's top-left
            "tag": {"family": "36h10", "id": tag_id, "corners": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]},
            "header": [dict(h) for h in p2["header"]], "private": p2["private"], "fields": []}
    lines = [ln for ln in p2["lines"] if ln.get("dotted") or ln["y0"] > 2095
             or (ln.get("gray", 0) > 150 and max(ln["x1"] - ln["x0"], ln["y1"] - ln["y0"]) > 1000)
             or (1360 < ln["x0"] < 1500 and ln["y0"] < 290)]  # header dots, signatures, page rails, MODEL box
    lab = next(h["rect"] for h in p2["header"] if h["id"] == "page_label")
    pr = [
        text("Provinsi", 300, 246, 12.5, True), text(":", 445, 246, 12.5, True),
        text("Kabupaten / Kota", 300, 282, 12.5, True), text(":", 445, 282, 12.5, True),
        text("Kecamatan", 803, 246, 12.5, True), text(":", 996, 246, 12.5, True),
        text("Kelurahan / Desa *)", 803, 282, 12.5, True), text(":", 996, 282, 12.5, True),
        text("Nomor TPS", 803, 318, 12.5, True), text(":", 996, 318, 12.5, True),
        text("(", 1068, 314, 14, True), text(")", 1306, 314, 14, True),
        text("MODEL", 1431.5, 232, 12.5, True, "center"), text(model, 1431.5, 250, 12.5, True, "center"),
        text(f"Halaman {page_no} dari {n_pages}", lab["x"] + lab["w"] / 2, lab["y"] + 1.5, 12.5, True, "center"),
        text(election, 850, 2516, 10, True, "center", gray=150),
        text("NAMA DAN TANDA TANGAN KELOMPOK PENYELENGGARA PEMUNGUTAN SUARA", 851, 2117, 11.5, True, "center"),
        text("NAMA DAN TANDA TANGAN SAKSI PESERTA PEMILU", 851, 2245, 11.5, True, "center"),
        text("*) Coret yang tidak perlu", 1490, 2452, 10.5, italic=True, align="right"),
    ]
    for k, x in enumerate((214, 400, 587, 773, 960, 1146, 1332), start=1):
        pr.append(text(f"{k}.", x, 2178, 15, True))
    for k, x in enumerate((214, 650, 1085), start=1):
        pr.append(text(f"{k}.", x, 2290, 18, True))
    page["printed"] = pr
    page["lines"] = lines
    return page


def title_block(page: dict, y: float, lines_: list[tuple[str, float]]) -> float:
    for t, size in lines_:
        page["printed"].append(text(t, 850, y, size, True, "center"))
        y += size * 1.3
    return y


def section_heading(page: dict, label: str, title: str, y: float) -> None:
    page["printed"] += [text(label, 208, y, 15, True), text(title, 252, y, 15, True)]


def label_rows(page: dict, rows: list[tuple[str, list[dict], bool]], x_label: float, y: float,
               row_h: float, x0: float, x1: float) -> float:
    """A ruled table of (label, boxes-already-placed, bold) rows; returns the table's bottom."""
    page["lines"].append(hline(x0, x1, y, 2.5))
    for label, _, bold in rows:
        page["printed"].append(text(label, x_label, y + row_h / 2 - 8, 14, bold))
        y += row_h
        page["lines"].append(hline(x0, x1, y, 1.5))
    return y


DPR_PARTIES = 18
DPR_CANDIDATES = 8
DPR_PARTIES_PER_PAGE = 4


def build_dpr(ppwp: dict) -> dict:
    n_pages = 1 + -(-DPR_PARTIES // DPR_PARTIES_PER_PAGE)  # page 1 + party pages (the last also holds V)
    pages = []
    # Page 1: exactly the PPWP page 1 (same boxes, same ids), with the DPR title.
    p1 = json.loads(json.dumps(ppwp["pages"][0]))
    p1.update({"form_type": "dpr", "tag": {"family": "36h10", "id": 201, "corners": plano_chrome(
        ppwp, "dpr", 1, n_pages, 201, "", "")["tag"]["corners"]}})
    chrome = plano_chrome(ppwp, "dpr", 1, n_pages, 201, "C.HASIL-DPR", "PEMILU ANGGOTA DPR - Hal 1")
    p1["printed"] = page1_printed("DEWAN PERWAKILAN RAKYAT", "C.HASIL-DPR", 1, n_pages) + [
        t for t in chrome["printed"] if t["y"] > 2090]
    pages.append(p1)
    box, pitch, bt = 48.0, 56.0, 2.5
    row_h = 56.0
    col_x = [206.0, 856.0]  # two party columns per page
    col_w = 638.0
    party = 1
    for pg in range(2, n_pages + 1):
        page = plano_chrome(ppwp, "dpr", pg, n_pages, 200 + pg, "C.HASIL-DPR",
                            f"PEMILU ANGGOTA DPR - Hal {pg} dari {n_pages}")
        section_heading(page, "IV.", "DATA PEROLEHAN SUARA PARTAI POLITIK DAN CALON ANGGOTA DPR", 395)
        y_top = 440.0
        slots = [(c, r) for r in range(2) for c in range(2)]
        for c, r in slots:
            if party > DPR_PARTIES:
                break
            x0 = col_x[c]
            y = y_top + r * (44 + 10 * row_h + 40)
            nn = f"{party:02d}"
            page["lines"] += outline(x0, y, col_w, 44 + 10 * row_h, 2.5)
            page["printed"].append(text(f"PARTAI {nn}", x0 + 14, y + 14, 15, True))
            page["printed"].append(text("JUMLAH SUARA", x0 + col_w - 100, y + 14, 11, True, "center"))
            page["lines"].append(vline(x0 + col_w - 200, y, y + 44 + 10 * row_h, 1.5))
            labels = [("votes", "Suara sah partai politik saja", "Valid votes for the party only", True)]
            labels += [(f"cand_{k}", f"{k}. Nama calon nomor urut {k}", f"Valid votes for candidate {k}", False)
                       for k in range(1, DPR_CANDIDATES + 1)]
            labels += [("total", "Jumlah suara sah partai dan calon", "Party total (party + candidates)", True)]
            yy = y + 44
            for suffix, lid, len_, bold in labels:
                page["lines"].append(hline(x0, x0 + col_w, yy, 1.5 if suffix != "votes" else 2.5))
                boxes, bl = digit_boxes(x0 + col_w - 200 + (200 - (2 * pitch + box)) / 2,
                                        yy + (row_h - box) / 2, 3, box, pitch, bt)
                page["lines"] += bl
                page["printed"].append(text(lid, x0 + 16, yy + row_h / 2 - 8, 14, bold))
                page["fields"].append({"id": f"party_{nn}_{suffix}", "section": f"IV.{party}",
                                       "label_id": f"Partai {nn}: {lid}", "label_en": f"Party {nn}: {len_}",
                                       "boxes": boxes})
                yy += row_h
            party += 1
        if pg == n_pages:  # section V under the last parties
            y = 440 + (44 + 10 * row_h + 40) + 10
            section_heading(page, "V.", "DATA SUARA SAH DAN SUARA TIDAK SAH", y)
            y += 40
            page["lines"] += outline(206, y, 1288, 3 * 70, 2.5)
            page["lines"].append(vline(1294, y, y + 210, 1.5))
            for k, (fid, sec, lid, len_) in enumerate(TOTAL_ROWS):
                yy = y + k * 70
                if k:
                    page["lines"].append(hline(206, 1494, yy, 1.5))
                page["printed"].append(text(f"{'ABC'[k]}.  {lid}", 222, yy + 27, 14, True))
                boxes, bl = digit_boxes(1300, yy + 11, 3, box, 64, bt)
                page["lines"] += bl
                page["fields"].append({"id": fid, "section": sec, "label_id": lid, "label_en": len_,
                                       "boxes": boxes})
        pages.append(page)
    return {"form_type": "dpr", "title": "Model C.Hasil-DPR (plano) look-alike",
            "source": "look-alike built by scripts/build_layouts.py on the measured C.Hasil-PPWP plano",
            "pages": pages}


def page1_printed(election: str, model: str, page_no: int, n_pages: int) -> list[dict]:
    """Title block and row labels of a PPWP-page-1-style page (look-alike text on measured rules)."""
    pr = [
        text("MODEL", 1431.5, 230, 12.5, True, "center"), text(model, 1431.5, 248, 12.5, True, "center"),
        text(f"Halaman {page_no} dari {n_pages}", 1431.5, 286, 12.5, True, "center"),
        text("BERITA ACARA, SERTIFIKAT DAN CATATAN HASIL PENGHITUNGAN PEROLEHAN SUARA", 850, 258, 17, True,
             "center"),
        text("DI TEMPAT PEMUNGUTAN SUARA DALAM PEMILIHAN UMUM", 850, 283, 17, True, "center"),
        text(election, 850, 308, 22, True, "center"),
        text("TAHUN 2024", 850, 364, 15, True, "center"),
        text("Provinsi", 208, 586, 13, True), text(":", 350, 586, 13, True),
        text("Kabupaten / Kota", 208, 622, 13, True), text(":", 350, 622, 13, True),
        text("Kecamatan", 712, 586, 13, True), text(":", 905, 586, 13, True),
        text("Kelurahan / Desa *)", 712, 622, 13, True), text(":", 905, 622, 13, True),
        text("Nomor TPS", 712, 658, 13, True), text(":", 905, 658, 13, True),
        text("I.", 208, 946, 15, True), text("DATA PEMILIH DAN PENGGUNA HAK PILIH", 252, 946, 15, True),
        text("URAIAN", 531, 988, 11, True, "center"), text("LAKI-LAKI (L)", 962, 988, 11, True, "center"),
        text("PEREMPUAN (P)", 1175, 988, 11, True, "center"), text("JUMLAH (L+P)", 1387, 988, 11, True, "center"),
        text("A.  DATA PEMILIH", 224, 1052, 13, True),
        text("Jumlah Pemilih dalam Daftar Pemilih Tetap (DPT)", 271, 1104, 13.5),
        text("( Terdapat dalam Model A-Kabko Daftar Pemilih )", 271, 1124, 13.5, italic=True),
        text("B.  PENGGUNA HAK PILIH", 224, 1174, 13, True),
        text("1. Jumlah pengguna hak pilih dalam Daftar Pemilih Tetap (DPT)", 271, 1236, 13.5),
        text("2. Jumlah pengguna hak pilih dalam Daftar Pemilih Tambahan (DPTb)", 271, 1301, 13.5),
        text("3. Jumlah pengguna hak pilih dalam Daftar Pemilih Khusus (DPK)", 271, 1366, 13.5),
        text("4. Jumlah Pengguna Hak Pilih (B.1 + B.2 + B.3)", 271, 1431, 13.5, True),
        text("II.", 208, 1512, 15, True), text("DATA PENGGUNAAN SURAT SUARA", 252, 1512, 15, True),
        text("URAIAN", 743, 1556, 11, True, "center"), text("JUMLAH", 1387, 1556, 11, True, "center"),
        text("III.", 208, 1906, 15, True), text("DATA PEMILIH DISABILITAS", 252, 1906, 15, True),
        text("URAIAN", 531, 1950, 11, True, "center"), text("LAKI-LAKI (L)", 962, 1950, 11, True, "center"),
        text("PEREMPUAN (P)", 1175, 1950, 11, True, "center"), text("JUMLAH (L+P)", 1387, 1950, 11, True, "center"),
        text("Jumlah seluruh Pemilih disabilitas yang menggunakan hak pilih", 220, 2033, 13.5),
    ]
    for k, (lab, y) in enumerate([
            ("Jumlah surat suara yang diterima, termasuk surat suara cadangan 2% dari DPT", 1639),
            ("Jumlah surat suara yang digunakan", 1704),
            ("Jumlah surat suara yang dikembalikan oleh pemilih (karena rusak atau keliru coblos)", 1769),
            ("Jumlah surat suara yang tidak digunakan/tidak terpakai, termasuk sisa surat suara cadangan", 1834)],
            start=1):
        pr.append(text(f"{k}. {lab}", 229, y, 13.5))
    return pr


DHASIL_DIGITS = 6
DHASIL_DESA_ROWS = 30
DESA_COLUMNS = [("votes_1", "Paslon 1", "Votes for candidate pair 1"),
                ("votes_2", "Paslon 2", "Votes for candidate pair 2"),
                ("votes_3", "Paslon 3", "Votes for candidate pair 3"),
                ("valid_votes", "Suara Sah", "Valid votes"),
                ("invalid_votes", "Tidak Sah", "Invalid votes")]


def build_dhasil(ppwp: dict) -> dict:
    n_pages = 3
    model, election = "D.HASIL KECAMATAN-PPWP", "PEMILU PRESIDEN DAN WAKIL PRESIDEN"
    pages = []
    box, pitch, bt = 40.0, 44.0, 2.0
    # ---- page 1: sections I-III aggregated, 6 boxes per number
    page = plano_chrome(ppwp, "dhasil-ppwp", 1, n_pages, 301, model, f"{election} - Hal 1 dari {n_pages}")
    y = title_block(page, 395, [("BERITA ACARA DAN SERTIFIKAT REKAPITULASI HASIL PENGHITUNGAN PEROLEHAN SUARA", 17),
                                ("DI TINGKAT KECAMATAN DALAM PEMILIHAN UMUM PRESIDEN DAN WAKIL PRESIDEN", 17),
                                ("TAHUN 2024", 15)])
    group_x = [590.0, 892.0, 1194.0]  # L, P, L+P groups of 6 boxes (264 wide, 300 pitch)
    y += 40
    section_heading(page, "I.", "DATA PEMILIH DAN PENGGUNA HAK PILIH", y)
    y += 36
    x0, x1 = 206.0, 1494.0
    page["lines"].append(hline(x0, x1, y, 2.5))
    for gx, head in zip(group_x, ("LAKI-LAKI (L)", "PEREMPUAN (P)", "JUMLAH (L+P)"), strict=True):
        page["printed"].append(text(head, gx + 132, y + 10, 11, True, "center"))
    page["printed"].append(text("URAIAN", 395, y + 10, 11, True, "center"))
    y += 34
    row_h = 56.0
    table_top = y - 34
    for stem, sec, lid, len_, split in PAGE1_ROWS:
        if stem == "ballots_received":
            page["lines"] += [vline(x0 + 1.25, table_top, y, 2.5), vline(x1 - 1.25, table_top, y, 2.5)]
            page["lines"].append(hline(x0, x1, y, 2.5))
            y += 30
            section_heading(page, "II.", "DATA PENGGUNAAN SURAT SUARA", y)
            y += 36
            table_top = y
            page["lines"].append(hline(x0, x1, y, 2.5))
        if stem == "disabled_voters":
            page["lines"] += [vline(x0 + 1.25, table_top, y, 2.5), vline(x1 - 1.25, table_top, y, 2.5)]
            page["lines"].append(hline(x0, x1, y, 2.5))
            y += 30
            section_heading(page, "III.", "DATA PEMILIH DISABILITAS", y)
            y += 36
            table_top = y
            page["lines"].append(hline(x0, x1, y, 2.5))
        bold = stem == "voters_total"
        if split:  # the label column ends at the first box group: wrap to two short lines
            words, lines_, cur = f"{sec}  {lid}".split(" "), [], ""
            for w_ in words:
                if len(cur) + len(w_) + 1 > 50 and cur:
                    lines_.append(cur)
                    cur = w_
                else:
                    cur = f"{cur} {w_}".strip()
            lines_.append(cur)
            for k, ln in enumerate(lines_[:2]):
                page["printed"].append(text(ln, 220, y + row_h / 2 - 7 - 8 * (len(lines_[:2]) - 1) + 16 * k,
                                            11, bold))
        else:
            page["printed"].append(text(f"{sec}  {lid}", 220, y + row_h / 2 - 8, 12.5, bold))
        groups = list(zip(group_x, LPT, strict=True)) if split else [(group_x[2], None)]
        for gx, lpt in groups:
            boxes, bl = digit_boxes(gx, y + (row_h - box) / 2, DHASIL_DIGITS, box, pitch, bt)
            page["lines"] += bl
            if lpt is None:
                page["fields"].append({"id": stem, "section": sec, "label_id": lid, "label_en": len_,
                                       "boxes": boxes})
            else:
                suffix, lab_id, lab_en = lpt
                page["fields"].append({"id": f"{stem}_{suffix}", "section": sec,
                                       "label_id": f"{lid} - {lab_id}", "label_en": f"{len_}, {lab_en}",
                                       "boxes": boxes})
        y += row_h
        page["lines"].append(hline(x0, x1, y, 1.5))
    page["lines"] += [vline(x0 + 1.25, table_top, y, 2.5), vline(x1 - 1.25, table_top, y, 2.5)]
    page["lines"].append(hline(x0, x1, y, 2.5))
    pages.append(page)
    # ---- page 2: sections IV and V
    page = plano_chrome(ppwp, "dhasil-ppwp", 2, n_pages, 302, model, f"{election} - Hal 2 dari {n_pages}")
    y = 420.0
    section_heading(page, "IV.", "DATA PEROLEHAN SUARA PASANGAN CALON PRESIDEN DAN WAKIL PRESIDEN", y)
    y += 40
    rows = [(fid, sec, lid, len_) for fid, sec, lid, len_ in VOTES_ROWS]
    table_top = y
    page["lines"].append(hline(x0, x1, y, 2.5))
    row_h = 70.0
    for k, (fid, sec, lid, len_) in enumerate(rows + TOTAL_ROWS):
        if k == 3:
            page["lines"] += [vline(x0 + 1.25, table_top, y, 2.5), vline(x1 - 1.25, table_top, y, 2.5)]
            y += 40
            section_heading(page, "V.", "DATA SUARA SAH DAN SUARA TIDAK SAH", y)
            y += 40
            table_top = y
            page["lines"].append(hline(x0, x1, y, 2.5))
        page["printed"].append(text(f"{sec}.{k + 1}  {lid}" if k < 3 else f"{sec}  {lid}", 222,
                                    y + row_h / 2 - 8, 14, k >= 3))
        boxes, bl = digit_boxes(group_x[2], y + (row_h - box) / 2, DHASIL_DIGITS, box, pitch, bt)
        page["lines"] += bl
        page["fields"].append({"id": fid, "section": sec, "label_id": lid, "label_en": len_, "boxes": boxes})
        y += row_h
        page["lines"].append(hline(x0, x1, y, 1.5 if k not in (2, 5) else 2.5))
    page["lines"] += [vline(x0 + 1.25, table_top, y, 2.5), vline(x1 - 1.25, table_top, y, 2.5),
                      vline(group_x[2] - 14, table_top, y, 1.5)]
    pages.append(page)
    # ---- page 3: one row per desa, in register order
    page = plano_chrome(ppwp, "dhasil-ppwp", 3, n_pages, 303, model, f"{election} - Hal 3 dari {n_pages}")
    y = 400.0
    section_heading(page, "VI.", "RINCIAN PEROLEHAN SUARA PER KELURAHAN/DESA", y)
    y += 36
    dbox, dpitch, gap = 31.0, 34.0, 12.0
    code_x0, code_w = 206.0, 190.0
    gx0 = code_x0 + code_w + 10
    gxs = [gx0 + k * (DHASIL_DIGITS * dpitch + gap) for k in range(len(DESA_COLUMNS))]
    table_top = y
    page["lines"].append(hline(x0, x1, y, 2.5))
    page["printed"].append(text("KODE DESA", code_x0 + code_w / 2, y + 14, 11, True, "center"))
    for gx, (_, head, _) in zip(gxs, DESA_COLUMNS, strict=True):
        page["printed"].append(text(head.upper(), gx + (DHASIL_DIGITS * dpitch - (dpitch - dbox)) / 2, y + 14,
                                    11, True, "center"))
        page["lines"].append(vline(gx - gap / 2, y, y + 40 + DHASIL_DESA_ROWS * 39, 1.0))
    y += 40
    page["lines"].append(hline(x0, x1, y, 1.5))
    row_h = 39.0
    page["row_labels"] = []
    for r in range(1, DHASIL_DESA_ROWS + 1):
        nn = f"{r:02d}"
        page["printed"].append(text(nn, code_x0 + 6, y + row_h / 2 - 6, 10, gray=110))
        page["row_labels"].append(rect(code_x0 + 30, y + 3, code_w - 34, row_h - 6))
        for gx, (suffix, head, len_) in zip(gxs, DESA_COLUMNS, strict=True):
            boxes, bl = digit_boxes(gx, y + (row_h - dbox) / 2, DHASIL_DIGITS, dbox, dpitch, 1.5)
            page["lines"] += bl
            page["fields"].append({"id": f"desa_{nn}_{suffix}", "section": "VI",
                                   "label_id": f"Desa baris {nn}: {head}", "label_en": f"Desa row {nn}: {len_}",
                                   "boxes": boxes})
        y += row_h
        page["lines"].append(hline(x0, x1, y, 1.0 if r % 5 else 2.0))
    page["lines"] += [vline(x0 + 1.25, table_top, y, 2.5), vline(x1 - 1.25, table_top, y, 2.5),
                      vline(code_x0 + code_w, table_top, y, 1.5)]
    assert y < 2080, y  # above the signature blocks
    pages.append(page)
    return {"form_type": "dhasil-ppwp", "title": "Model D.Hasil Kecamatan-PPWP look-alike",
            "source": "look-alike built by scripts/build_layouts.py on the measured C.Hasil-PPWP plano",
            "pages": pages}


# ---------------------------------------------------------------- printed text of the official pages
# Positions from Tesseract line boxes on the 144-dpi rendering (left, cap top, cap height in
# points); the text itself as printed. Rendering only: nothing reads these.


def cap_text(t: str, x: float, cap_top: float, cap_h: float, bold: bool = True, align: str = "left",
             italic: bool = False) -> dict:
    size = r2(cap_h / 0.73)
    return text(t, x, cap_top - 0.2 * size, size, bold, align, italic)


SIGNATURES_PPWP = [  # (text, x, cap top, cap height, bold, align) relative to the signature table top
    ("NAMA DAN TANDA TANGAN KELOMPOK PENYELENGGARA PEMUNGUTAN SUARA", 851, 9, 10, True, "center"),
    ("NAMA DAN TANDA TANGAN SAKSI PASANGAN CALON PRESIDEN DAN WAKIL PRESIDEN", 851, 136, 10, True, "center"),
] + [(f"{k}.", x, 62, 12, True, "left") for k, x in enumerate((214, 400, 587, 773, 960, 1146, 1332), start=1)] + [
    (f"{k}.", x, 181, 16, True, "left") for k, x in enumerate((221, 655, 1090), start=1)] + [
    (t, x, y, 10.5, True, "left") for x in (261, 696, 1131)
    for t, y in (("NAMA CALON PRESIDEN", 177), ("NAMA CALON WAKIL PRESIDEN", 196))]


def ppwp_printed(page_no: int, sig_top: float) -> list[dict]:
    pr = [cap_text(t, x, sig_top + y, h, b, a) for t, x, y, h, b, a in SIGNATURES_PPWP]
    pr += [cap_text("*) Coret yang tidak perlu", 1473, 2451, 8, False, "right", True),
           cap_text(f"PEMILU PRESIDEN DAN WAKIL PRESIDEN - Hal {page_no} dari 3", 113, 2516, 8)]
    pr[-1]["gray"] = 150
    if page_no == 1:
        pr += page1_printed("PRESIDEN DAN WAKIL PRESIDEN", "C.HASIL-PPWP", 1, 3)
        pr += [text("REPUBLIK INDONESIA", 850, 333, 22, True, "center")]
        return pr
    pr += [cap_text("Provinsi", 301, 236, 10), cap_text(":", 445, 236, 10),
           cap_text("Kabupaten / Kota", 301, 276, 10), cap_text(":", 445, 276, 10),
           cap_text("Kecamatan", 805, 236, 10), cap_text(":", 996, 236, 10),
           cap_text("Kelurahan / Desa *)", 805, 276, 10), cap_text(":", 996, 276, 10),
           cap_text("Nomor TPS", 805, 312, 10), cap_text(":", 996, 312, 10),
           cap_text("(", 1070, 312, 12), cap_text(")", 1304, 312, 12),
           cap_text("MODEL", 1431.5, 236, 10, align="center"),
           cap_text("C.HASIL-PPWP", 1431.5, 253, 10, align="center"),
           cap_text(f"Halaman {page_no} dari 3", 1431.5, 287, 10, align="center")]
    if page_no == 2:
        pr += [cap_text("IV.", 208, 382, 12), cap_text(
            "DATA RINCIAN PEROLEHAN SUARA PASANGAN CALON PRESIDEN DAN WAKIL PRESIDEN", 252, 382, 12),
            cap_text("NOMOR DAN NAMA", 360, 460, 8.5, align="center"),
            cap_text("PASANGAN CALON", 360, 476, 8.5, align="center"),
            cap_text("RINCIAN PEROLEHAN SUARA SAH", 846, 458, 8.5, align="center"),
            cap_text("JUMLAH", 1227, 460, 8.5, align="center"), cap_text("TIAP BARIS", 1227, 476, 8.5, align="center"),
            cap_text("JUMLAH SUARA SAH", 1385, 470, 8.5, align="center")]
        pr += [cap_text(str(k), 513 + (k - 0.5) * (1179.2 - 513.2) / 12, 491, 7, False, "center") for k in range(1, 13)]
        for k, y in enumerate((529, 960, 1391), start=1):
            pr += [cap_text(str(k), 360, y, 24, align="center"),
                   cap_text("NAMA CALON PRESIDEN", 360, y + 58, 11, align="center"),
                   cap_text("NAMA CALON WAKIL PRESIDEN", 360, y + 77, 11, align="center"),
                   cap_text("Hitamkan bulatan ini sesuai dengan", 1258, y + 269, 10, False, "right", True),
                   cap_text("isian angka pada kotak", 1217, y + 286, 10, False, "right", True),
                   cap_text("( ditulis menggunakan huruf kapital )", 513, y + 349, 6.5, False, "left", True)]
    else:
        pr += [cap_text("V.", 208, 382, 12), cap_text("DATA SUARA SAH DAN SUARA TIDAK SAH", 252, 382, 12),
               cap_text("A.", 228, 493, 9, align="center"), cap_text("B.", 228, 706, 9, align="center"),
               cap_text("C.", 228, 905, 9, align="center"),
               cap_text("JUMLAH SELURUH", 381, 472, 11, align="center"),
               cap_text("SUARA SAH", 381, 493, 11, align="center"),
               cap_text("( IV.1 + IV.2 + IV.3 )", 381, 514, 11, align="center", italic=True),
               cap_text("JUMLAH SUARA", 381, 693, 13, align="center"),
               cap_text("TIDAK SAH", 381, 714, 13, align="center"),
               cap_text("RINCIAN PEROLEHAN SUARA TIDAK SAH", 846, 603, 8.5, align="center"),
               cap_text("JUMLAH", 1227, 606, 8.5, align="center"),
               cap_text("TIAP BARIS", 1227, 618, 8.5, align="center"),
               cap_text("JUMLAH SUARA TIDAK SAH", 1385, 614, 8.5, align="center"),
               cap_text("JUMLAH SELURUH", 381, 874, 11, align="center"),
               cap_text("SUARA SAH DAN", 381, 895, 11, align="center"),
               cap_text("SUARA TIDAK SAH", 381, 915, 11, align="center"),
               cap_text("( V.A + V.B )", 381, 938, 11, align="center", italic=True),
               cap_text("DITETAPKAN DI :", 325, 1034, 11), cap_text("TANGGAL :", 800, 1034, 11),
               cap_text("BULAN :", 1025, 1034, 11), cap_text("TAHUN :", 1225, 1034, 11)]
        pr += [cap_text(str(k), 513 + (k - 0.5) * (1179.2 - 513.2) / 12, 636, 7, False, "center") for k in range(1, 13)]
        for y in (538, 811, 952):
            pr.append(cap_text("( ditulis menggunakan huruf kapital )", 1262, y, 6.5, False, "right", True))
    return pr


def salinan_printed(page_no: int, hdr: list[dict]) -> list[dict]:
    """Main printed text of the A4 Salinan (positions read off the 288-dpi rendering)."""
    h = {x["id"]: x["rect"] for x in hdr}
    lab = h["page_label"]
    pr = [text(f"Hal {page_no} dari 2", lab["x"] + lab["w"] / 2, lab["y"] + 0.3, 5.6, True, "center")]
    for key, label in (("provinsi", "Provinsi"), ("kabkota", "Kabupaten / Kota"), ("kecamatan", "Kecamatan"),
                       ("desa", "Kelurahan / Desa"), ("tps_number", "Nomor TPS")):
        r = h[key]
        x = 133 if key in ("provinsi", "kabkota") else 298
        pr += [text(label, x, r["y"] + r["h"] - 8.5, 5.6), text(":", r["x"] - 4, r["y"] + r["h"] - 8.5, 5.6)]
    if page_no == 1:
        y = 170
        for t, size in (("BERITA ACARA, SERTIFIKAT DAN CATATAN HASIL PENGHITUNGAN PEROLEHAN SUARA", 6.2),
                        ("DI TEMPAT PEMUNGUTAN SUARA DALAM PEMILIHAN UMUM", 6.2),
                        ("PRESIDEN DAN WAKIL PRESIDEN", 8.2), ("REPUBLIK INDONESIA", 8.2), ("TAHUN 2024", 6.2)):
            pr.append(text(t, 300, y, size, True, "center"))
            y += size * 1.3
        pr += [text("I. DATA PEMILIH DAN PENGGUNA HAK PILIH", 86, 358, 7, True),
               text("URAIAN", 270, 376, 5.6, True, "center"), text("LAKI-LAKI (L)", 368, 376, 5.6, True, "center"),
               text("PEREMPUAN (P)", 425, 376, 5.6, True, "center"),
               text("JUMLAH (L+P)", 485, 376, 5.6, True, "center"),
               text("A", 90, 400, 5.6, True), text("DATA PEMILIH", 106, 400, 5.6, True),
               text("Jumlah Pemilih dalam Daftar Pemilih Tetap", 106, 416, 5.6),
               text("(Terdapat dalam Model A-Kabko Daftar Pemilih )", 106, 424, 5.6, italic=True),
               text("B", 90, 437, 5.6, True), text("PENGGUNA HAK PILIH", 106, 437, 5.6, True),
               text("1. Jumlah pengguna hak pilih dalam Daftar Pemilih Tetap (DPT)", 106, 456, 5.6),
               text("2. Jumlah pengguna hak pilih dalam Daftar Pemilih Tambahan (DPTb)", 106, 474, 5.6),
               text("3. Jumlah pengguna hak pilih dalam Daftar Pemilih Khusus (DPK)", 106, 492, 5.6),
               text("4. Jumlah Pengguna Hak Pilih (B.1 + B.2 + B.3)", 106, 511, 5.6, True),
               text("II. DATA PENGGUNAAN SURAT SUARA", 86, 530, 7, True),
               text("URAIAN", 270, 547, 5.6, True, "center"), text("JUMLAH", 485, 547, 5.6, True, "center"),
               text("1. Jumlah surat suara yang diterima, termasuk surat suara cadangan 2% dari DPT", 90, 572, 5.6),
               text("2. Jumlah surat suara yang digunakan", 90, 590, 5.6),
               text("3. Jumlah surat suara yang dikembalikan oleh pemilih (karena rusak atau keliru coblos)",
                    90, 609, 5.6),
               text("4. Jumlah surat suara yang tidak digunakan/tidak terpakai, termasuk sisa surat suara cadangan",
                    90, 627, 5.6),
               text("III. DATA PEMILIH DISABILITAS", 86, 646, 7, True),
               text("URAIAN", 270, 663, 5.6, True, "center"), text("LAKI-LAKI (L)", 368, 663, 5.6, True, "center"),
               text("PEREMPUAN (P)", 425, 663, 5.6, True, "center"),
               text("JUMLAH (L+P)", 485, 663, 5.6, True, "center"),
               text("Jumlah seluruh Pemilih disabilitas yang menggunakan hak pilih", 90, 689, 5.6)]
        sig = 710.0
    else:
        pr += [text("IV. DATA PEROLEHAN SUARA PASANGAN CALON PRESIDEN DAN WAKIL PRESIDEN", 86, 103, 7, True),
               text("NOMOR DAN NAMA PASANGAN CALON", 262, 119, 5.6, True, "center"),
               text("SUARA SAH", 485, 119, 5.6, True, "center")]
        for k, y in enumerate((140, 211, 282), start=1):
            pr += [text(f"{k}.", 108, y + 11, 9, True, "center"),
                   text("NAMA CALON PRESIDEN", 284, y + 5, 6.5, True, "center"),
                   text("NAMA CALON WAKIL PRESIDEN", 284, y + 15, 6.5, True, "center"),
                   text("(ditulis dengan huruf kapital)", 513, y + 46, 4.5, italic=True, align="right")]
        pr += [text("V. DATA SUARA SAH DAN TIDAK SAH", 86, 394, 7, True),
               text("URAIAN", 262, 410, 5.6, True, "center"), text("JUMLAH", 485, 410, 5.6, True, "center"),
               text("A.", 90, 440, 6, True), text("JUMLAH SELURUH SUARA SAH", 106, 436, 5.6, True),
               text("(IV.1 + IV.2 + IV.3)", 106, 444, 5.6, True, italic=True),
               text("B.", 90, 481, 6, True), text("JUMLAH SUARA TIDAK SAH", 106, 481, 5.6, True),
               text("C.", 90, 522, 6, True), text("JUMLAH SELURUH SUARA SAH", 106, 514, 5.6, True),
               text("DAN SUARA TIDAK SAH", 106, 522, 5.6, True), text("(A + B)", 106, 530, 5.6, True, italic=True),
               text("DITETAPKAN DI :", 86, 568, 5.6, True), text("TANGGAL :", 248, 568, 5.6, True),
               text("BULAN :", 333, 568, 5.6, True), text("TAHUN :", 408, 568, 5.6, True)]
        sig = 596.0
    pr += [text("NAMA DAN TANDA TANGAN KELOMPOK PENYELENGGARA PEMUNGUTAN SUARA", 300, sig + 2.5, 6, True, "center"),
           text("NAMA DAN TANDA TANGAN SAKSI PASANGAN CALON PRESIDEN DAN WAKIL PRESIDEN", 300, sig + 38.5, 6,
                True, "center")]
    for k in range(7):
        pr.append(text("1. KETUA" if k == 0 else f"{k + 1}. ANGGOTA", 117 + k * 61.2, sig + 14, 4.2, True, "center"))
    return pr


def write(layout: dict) -> Path:
    FormLayout.model_validate(layout)  # never write an invalid layout
    path = OUT / f"{layout['form_type']}.json"
    path.write_text(json.dumps(layout, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: list[str]) -> None:
    wanted = set(argv) or {"ppwp", "ppwp-salinan", "dpr", "dhasil-ppwp"}
    built: dict[str, dict] = {}
    if {"ppwp", "dpr", "dhasil-ppwp"} & wanted:
        if not PPWP_PDF.exists():
            # the look-alikes reuse the measured plano geometry from the committed ppwp.json
            built["ppwp"] = json.loads((OUT / "ppwp.json").read_text("utf-8"))
        else:
            built["ppwp"] = build_ppwp()
    if "ppwp" in wanted:
        print(write(built["ppwp"]))
    if "ppwp-salinan" in wanted:
        print(write(build_salinan()))
    if "dpr" in wanted and "build_dpr" in globals():
        print(write(globals()["build_dpr"](built["ppwp"])))
    if "dhasil-ppwp" in wanted and "build_dhasil" in globals():
        print(write(globals()["build_dhasil"](built["ppwp"])))


if __name__ == "__main__":
    main(sys.argv[1:])
