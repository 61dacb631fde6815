"""End-to-end checks of ``synth.generate`` on small batches (all real parts: renderer, writers,
degradations, encoders). The rule checker is test_values.broken_rules, written from FORMS.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_values import broken_rules

from extract._exec.pdftoppm import pdf_info
from schemas.layout import load_layout
from schemas.truth import TruthForm
from synth.generate import GenerateOptions, generate_batch
from synth.strokes import StrokeHand

NAME = re.compile(r"^(\d{13}|\d{6})_(ppwp|ppwp-salinan|dpr|dhasil-ppwp)(_p\d+)?\.(jpg|png|pdf)$")
ALL_TYPES = ["ppwp", "ppwp-salinan", "dpr", "dhasil-ppwp"]


def _opts(out: Path, **kw) -> GenerateOptions:
    base = dict(out_dir=out, forms=9, province="32", seed=4, form_types=ALL_TYPES, quality="scan",
                inconsistent_rate=0.6, workers=2)
    base.update(kw)
    return GenerateOptions(**base)


def _truth(out: Path) -> list[TruthForm]:
    return [TruthForm.model_validate_json(line) for line in (out / "truth.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[TruthForm]]:
    out = tmp_path_factory.mktemp("batch")
    seen: list[tuple[int, int]] = []
    summary = generate_batch(_opts(out), progress=lambda d, t: seen.append((d, t)))
    assert summary.forms == 9 and seen[-1] == (9, 9)
    return out, _truth(out)


def _value_of(boxes: list[str]) -> int | None:
    """Leading "X", "-" or blank boxes mean "no digit"; the rest must be digits."""
    i = 0
    while i < len(boxes) and boxes[i] in ("X", "-", ""):
        i += 1
    rest = boxes[i:]
    assert all(b.isdigit() for b in rest), boxes
    return int("".join(rest)) if rest else None


def test_every_form_type_and_naming(batch: tuple[Path, list[TruthForm]]) -> None:
    out, truths = batch
    assert {t.form_type.value for t in truths} == set(ALL_TYPES)
    files = sorted(p.name for p in out.iterdir() if p.name != "truth.jsonl")
    assert files and all(NAME.match(f) for f in files), files
    for t in truths:
        assert len(t.region_code) == (6 if t.form_type.value == "dhasil-ppwp" else 13)
        assert t.region_code.startswith("32")
        for p in t.pages:
            m = NAME.match(p.file)
            assert m and m.group(1) == t.region_code and m.group(2) == t.form_type.value
    # every file written is referenced by the truth
    assert set(files) == {p.file for t in truths for p in t.pages}


def test_truth_points_at_existing_pages(batch: tuple[Path, list[TruthForm]]) -> None:
    out, truths = batch
    for t in truths:
        layout = load_layout(t.form_type)
        assert [p.page for p in t.pages] == list(range(1, len(layout.pages) + 1))
        for p in t.pages:
            path = out / p.file
            assert path.exists()
            if path.suffix == ".pdf":
                assert p.page_index < pdf_info(path).pages == len(layout.pages)
                continue
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert img is not None
            h, w = img.shape[:2]
            assert (h > w) == (p.rotation in (0, 180)), (p, img.shape)  # portrait pages
            if p.quality == "scan":
                lw = layout.pages[p.page - 1].width
                expect = p.dpi * 8.27  # A4-equivalent width in pixels
                assert abs((w if p.rotation in (0, 180) else h) - expect) < 3, (lw, p.dpi, w, h)


def test_values_boxes_and_rules(batch: tuple[Path, list[TruthForm]]) -> None:
    _, truths = batch
    n_consistent = 0
    for t in truths:
        layout = load_layout(t.form_type)
        assert list(t.values) == layout.field_ids() == list(t.boxes)
        for fid, boxes in t.boxes.items():
            assert len(boxes) == len(layout.field(fid).boxes)
            assert _value_of(boxes) == t.values[fid], (fid, boxes)
        broken = broken_rules(t.values, t.form_type.value)
        if t.consistent:
            n_consistent += 1
            assert broken == [], (t.region_code, broken)
            assert all(m.kind == "bubble_mismatch" for m in t.mistakes)
        else:
            assert t.mistakes
    assert 0 < n_consistent < len(truths)


def test_mistakes_are_as_described(batch: tuple[Path, list[TruthForm]]) -> None:
    _, truths = batch
    kinds = set()
    for t in truths:
        for m in t.mistakes:
            kinds.add(m.kind)
            if m.kind == "sum_off":
                (f,) = m.fields
                new = int(re.search(r"written (\d+)", m.detail).group(1))
                assert t.values[f] == new and broken_rules(t.values, t.form_type.value)
            elif m.kind == "swap":
                a, b = m.fields
                got = dict(re.findall(r"(\w+)=(\d+)", m.detail))
                assert t.values[a] == int(got[a]) and t.values[b] == int(got[b])
                assert broken_rules(t.values, t.form_type.value)
            elif m.kind == "foreign_page":
                page = int(re.search(r"page (\d+)", m.detail).group(1))
                layout = load_layout(t.form_type)
                assert m.fields == [f.id for f in layout.pages[page - 1].fields]
                assert not t.consistent and " | " in t.writer  # another TPS, another officer
            elif m.kind == "bubble_mismatch":
                (f,) = m.fields
                i = int(re.search(r"box (\d+)", m.detail).group(1)) - 1
                assert t.bubbles[f][i] != t.boxes[f][i] and t.boxes[f][i].isdigit()
            elif m.kind == "recap_off":
                assert t.form_type.value == "dhasil-ppwp" and not t.consistent
    assert {"sum_off", "recap_off"} <= kinds, kinds


def test_bubbles_follow_digits(batch: tuple[Path, list[TruthForm]]) -> None:
    _, truths = batch
    checked = 0
    for t in truths:
        if t.form_type.value != "ppwp":
            assert t.bubbles == {}
            continue
        slips = {(m.fields[0]) for m in t.mistakes if m.kind == "bubble_mismatch"}
        assert set(t.bubbles) == {"votes_1", "votes_2", "votes_3"}
        for f, col in t.bubbles.items():
            for b, d in zip(t.boxes[f], col, strict=True):
                if b.isdigit() and f not in slips:
                    assert d == b
                    checked += 1
                elif not b.isdigit():
                    assert d in ("0", "")
    assert checked > 0


def test_deterministic_whatever_the_workers(batch: tuple[Path, list[TruthForm]], tmp_path: Path) -> None:
    out, _ = batch
    again = tmp_path / "again"
    generate_batch(_opts(again, workers=1))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert any(n.endswith(".pdf") for n in names)  # the byte-determinism of Pillow's PDF is covered
    for n in names:
        assert (out / n).read_bytes() == (again / n).read_bytes(), n


def test_photo_and_fax_pages(tmp_path: Path) -> None:
    truths = []
    for q in ("photo", "fax"):
        out = tmp_path / q
        generate_batch(_opts(out, forms=1, form_types=["ppwp-salinan"], quality=q, inconsistent_rate=0.0,
                             workers=1, seed=2))
        truths += [(out, t) for t in _truth(out)]
    for out, t in truths:
        assert t.consistent and not t.mistakes
        for p in t.pages:
            assert p.quality in ("photo", "fax")
            if p.file.endswith(".pdf"):
                continue
            img = cv2.imread(str(out / p.file), cv2.IMREAD_UNCHANGED)
            if p.quality == "photo":
                assert img.ndim == 3 and 7.5e6 < img.shape[0] * img.shape[1] < 12.5e6
            else:
                assert img.ndim == 2 and set(np.unique(img)) <= {0, 255}
                assert abs(max(img.shape) - 1170) < 3 or abs(min(img.shape) - 827) < 3  # 100 dpi A4


def test_procedural_fallback_without_handwriting_data(tmp_path: Path) -> None:
    out = tmp_path / "proc"
    s = generate_batch(_opts(out, forms=2, form_types=["ppwp-salinan"], procedural=True, workers=1))
    assert s.handwriting == "procedural strokes"
    truths = _truth(out)
    assert all(t.writer.startswith("strokes:") for t in truths)
    assert all((out / p.file).exists() for t in truths for p in t.pages)


def test_png_folder_handwriting(tmp_path: Path) -> None:
    hw = tmp_path / "mydigits"
    hand = StrokeHand(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for label in [*"0123456789", "X"]:
        (hw / label).mkdir(parents=True)
        for i in range(5):
            g = hand.glyph(label, 40, 4.0, rng)
            cv2.imwrite(str(hw / label / f"{i}.png"), (255 - g * 255).astype(np.uint8))  # dark on light
    out = tmp_path / "png"
    generate_batch(_opts(out, forms=2, form_types=["ppwp-salinan"], handwriting=hw, digit_split="all",
                         workers=1, seed=9))
    writers = [t.writer for t in _truth(out)]
    assert all(w.split(":")[0] in ("mydigits", "strokes") for w in writers), writers
    assert json.loads((out / "truth.jsonl").read_text().splitlines()[0])["region_code"].startswith("32")
