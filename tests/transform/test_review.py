"""The review page: crops from the source scans, overview charts, filters that work in Chromium,
and the corrections.csv template."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from transform_factory import TPS, consistent_ppwp, outcome

from extract.crops import field_rect, safe_rect
from load.release import publish
from schemas.layout import FormType, Rect, load_layout
from schemas.reasons import Status
from schemas.records import BatchResult
from transform.review import export_review
from transform.validate import validate_batch

PPU = 0.7
H_SCALE = [[PPU, 0, 0], [0, PPU, 0], [0, 0, 1]]
ROOT = Path(__file__).resolve().parents[2]


def _page_image(page_no: int, values: dict[str, int | None], seed: int) -> np.ndarray:
    pytest.importorskip("synth.render")
    from synth.fill import box_contents, bubble_choice, fill_page
    from synth.handwriting import make_writer
    from synth.render import render_page

    page = load_layout(FormType.PPWP).pages[page_no - 1]
    rng = np.random.default_rng(seed)
    writer = make_writer(rng, None, source="strokes")
    img = render_page(page, PPU).copy()
    boxes = {f.id: box_contents(values.get(f.id), len(f.boxes), writer.lead) for f in page.fields}
    bubbles = {f.id: bubble_choice(boxes[f.id], writer.bubble_lead) for f in page.fields if f.bubbles}
    fill_page(img, page, PPU, boxes, bubbles, writer, rng)
    return img


def _form(tmp: Path, code: str, values: dict[str, int | None], seed: int, **kw):
    files = {p: f"{code}_ppwp_p{p}.png" for p in (1, 2, 3)}
    for p, name in files.items():
        cv2.imwrite(str(tmp / "inputs" / name), _page_image(p, values, seed + p))
    oc = outcome(values, region=code, file=files[1], H=H_SCALE, file_of=files,
                 page_index_of={1: 0, 2: 0, 3: 0}, **kw)
    return oc


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("review")
    (tmp / "inputs").mkdir()
    clean = consistent_ppwp()
    sum_off = dict(clean, votes_2=73)  # the officer wrote 73 for 70: R3 breaks
    swapped = dict(clean, valid_votes=clean["invalid_votes"], invalid_votes=clean["valid_votes"])
    outcomes = [
        _form(tmp, TPS, clean, 1),
        _form(tmp, "3273010001005", sum_off, 10, unsure={"votes_1": {1: {"8": 0.6, "3": 0.38}}}),
        _form(tmp, "3273020002001", swapped, 20, bubbles={"votes_3": 38}),
        _form(tmp, "3204010003002", dict(clean, votes_3=39), 30,
              unsure={"votes_3": {1: {"3": 0.5, "8": 0.45}}, "votes_2": {1: {"7": 0.5, "1": 0.4}}}),
    ]
    forms, files = validate_batch(outcomes)
    return publish(BatchResult(forms=forms, files=files), tmp / "releases", tmp / "inputs", "r1")


@pytest.fixture(scope="module")
def exported(release: Path) -> Path:
    return export_review(release, release.parent.parent / "review")


def test_statuses_of_the_fixture(release: Path) -> None:
    recs = [json.loads(line) for line in (release / "records.jsonl").read_text().splitlines()]
    status = {r["region_code"]: r["status"] for r in recs}
    assert status[TPS] == Status.VERIFIED
    assert all(status[c] == Status.NEEDS_REVIEW for c in ("3273010001005", "3273020002001"))


def test_page_has_overview_crops_and_template(exported: Path) -> None:
    text = exported.read_text()
    assert "<svg" in text and "Status per kab/kota" in text and "Most frequently broken rules" in text
    assert "http://" not in text and "https://" not in text  # self-contained: no CDN, no server
    cards = re.findall(r'<article class="form"[^>]*data-code="(\d+)"', text)
    assert TPS not in cards and "3273010001005" in cards and "3273020002001" in cards
    crops = re.findall(r'src="(crops/[0-9A-Za-z_.-]+\.png)"', text)
    assert len(crops) >= 4 and "data:image" not in text  # crops are files beside the page, not inline
    assert all((exported.parent / c).is_file() for c in crops)
    rows = list(csv.DictReader(open(exported.parent / "corrections.csv")))
    assert list(rows[0]) == ["region_code", "form_type", "field_id", "old_value", "new_value", "reviewer", "reason",
                            "kind"]
    fields = {(r["region_code"], r["field_id"]) for r in rows}
    assert ("3273010001005", "votes_2") in fields and ("3273010001005", "valid_votes") in fields
    assert all(r["new_value"] == "" for r in rows)
    assert not any(r["region_code"] == TPS for r in rows)


def test_crops_show_ink_and_never_private_areas() -> None:
    page = load_layout(FormType.PPWP).pages[1]
    f = page.field("votes_1") if hasattr(page, "field") else next(x for x in page.fields if x.id == "votes_1")
    r = safe_rect(f, page)
    assert r is not None and r.h > f.boxes[0].h  # bubbles included below the boxes
    for p in page.private:
        assert not (r.x < p.x + p.w and p.x < r.x + r.w and r.y < p.y + p.h and p.y < r.y + r.h)
    blocked = page.model_copy(update={"private": [Rect(x=f.boxes[0].x, y=f.boxes[0].y, w=5, h=5)]})
    assert safe_rect(f, blocked) is None
    assert field_rect(f, 0.0, False).w == pytest.approx(f.boxes[-1].x + f.boxes[-1].w - f.boxes[0].x)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=90)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_page_renders_and_filters_in_chromium(exported: Path, tmp_path: Path) -> None:
    url = exported.resolve().as_uri()
    dom = _chromium("--virtual-time-budget=3000", "--dump-dom", url + "#rule=R3").stdout
    assert 'data-ready="1"' in dom, "the page's script did not run to the end"
    for el in ("f-rule", "f-region", "f-reason", "f-code"):
        assert f'id="{el}"' in dom
    cards = re.findall(r'<article class="form"([^>]*)>', dom)
    assert cards
    for attrs in cards:
        rules = re.search(r'data-rules="([^"]*)"', attrs).group(1).split()
        assert ("hidden" in attrs) == ("R3" not in rules)
    assert re.search(r"\d+ of \d+ flagged forms shown", dom)
    shot = tmp_path / "review.png"
    _chromium(f"--screenshot={shot}", "--window-size=1280,2000", url)
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[1] == 1280
    assert img.std() > 10  # not a blank page


def test_pages_do_not_grow_with_the_batch(release: Path, tmp_path: Path) -> None:
    first = export_review(release, tmp_path / "paged", per_page=1)
    pages = sorted(p.name for p in first.parent.glob("review*.html"))
    assert pages == ["review-2.html", "review.html"]  # two flagged forms, one per page
    for name in pages:
        text = (first.parent / name).read_text()
        assert len(re.findall(r'<article class="form"', text)) == 1
        assert 'href="review-2.html"' in text or 'href="review.html"' in text
    rows = list(csv.DictReader(open(first.parent / "corrections.csv")))
    assert {r["region_code"] for r in rows} == {"3273010001005", "3273020002001"}  # one CSV for every page


def test_missing_sources_only_lose_their_crops(release: Path, tmp_path: Path) -> None:
    page = export_review(release, tmp_path / "out", source_root=tmp_path / "nowhere")
    text = page.read_text()
    assert "data:image/png" not in text and "no crop (source not available)" in text
    assert (tmp_path / "out" / "corrections.csv").stat().st_size > 100
