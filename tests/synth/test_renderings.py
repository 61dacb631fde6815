"""Deliberately different renderings of the same forms (issue #12): each moves its lever far from
the default hand or capture pipeline, keeps the same numbers, and keeps the boxes where the truth
says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_photo_hard import border_offsets

from schemas.layout import Rect, load_layout
from schemas.truth import TruthForm
from synth import degrade
from synth.fill import write_box
from synth.generate import GenerateOptions, generate_batch
from synth.handwriting import make_writer
from synth.renderings import RENDERINGS, other_pipeline, restyle

BOX = Rect(x=0, y=0, w=60, h=60)
PPU = 2.0


def _ink(rendering: str, seed: int) -> list[np.ndarray]:
    """Ink (0..1) of the ten digits written by one restyled procedural writer, one box each."""
    rng = np.random.default_rng(seed)
    w = restyle(make_writer(rng, None), rendering, rng)
    out = []
    for d in "0123456789":
        canvas = np.full((120, 120), 255, np.uint8)
        write_box(canvas, BOX, d, PPU, w, rng)
        out.append(1 - canvas.astype(np.float32) / 255)
    return out


def _stats(rendering: str) -> dict[str, float]:
    cover, height, offset, darkest = [], [], [], []
    for seed in range(6):
        for ink in _ink(rendering, seed):
            on = ink > 0.15
            ys, xs = np.nonzero(on)
            cover.append(on.mean())
            height.append((ys.max() - ys.min() + 1) / 120)
            offset.append(np.hypot(xs.mean() - 60, ys.mean() - 60) / 120)
            darkest.append(ink.max())
    return {"cover": float(np.median(cover)), "height": float(np.median(height)),
            "offset": float(np.median(offset)), "darkest": float(np.median(darkest))}


@pytest.fixture(scope="module")
def default_stats() -> dict[str, float]:
    return _stats("default")


def test_small_offcentre(default_stats: dict[str, float]) -> None:
    s = _stats("small-offcentre")
    assert s["height"] < 0.6 < default_stats["height"]
    assert s["offset"] > 0.1 > default_stats["offset"]


def test_thin_faint(default_stats: dict[str, float]) -> None:
    s = _stats("thin-faint")
    assert s["cover"] < 0.75 * default_stats["cover"]
    assert s["darkest"] < default_stats["darkest"] - 0.15


def test_thick_marker(default_stats: dict[str, float]) -> None:
    s = _stats("thick-marker")
    assert s["cover"] > 1.5 * default_stats["cover"]


def test_blocky_glyphs_are_blown_up_blocks() -> None:
    rng = np.random.default_rng(0)
    w = restyle(make_writer(rng, None), "blocky", rng)
    g = w.glyph("4", 80, rng)
    assert set(np.unique(g)) <= {0.0, 1.0}, "hard-edged: no anti-aliasing"
    rows = {r.tobytes() for r in g}
    assert len(rows) <= w.blocky + 1, "as many distinct rows as the low-resolution glyph had"


def test_other_scanner_keeps_the_geometry() -> None:
    from synth.photo_hard import filled_page

    layout = load_layout("ppwp").pages[1]
    rng = np.random.default_rng(2)
    plan = degrade.plan("scan", rng, layout.width, layout.height)
    plan.params.update(angle=1.7, binary=False)
    plan.ppu = degrade.a4_px_per_unit(layout.width, 300)
    page, layout, _ = filled_page("ppwp", 2, seed=3, ppu=plan.ppu, colour=False)
    d = degrade.apply(page, plan, rng)
    o = other_pipeline(d, "scan", np.random.default_rng(1))
    assert o.image.shape == d.image.shape and not np.array_equal(o.image, d.image)
    img = np.repeat(o.image[..., None], 3, axis=2)
    e = np.abs(border_offsets(img, layout, degrade.projector(plan, page.shape)))
    assert np.median(e) < 0.3


def test_same_forms_in_every_rendering(tmp_path: Path) -> None:
    """One form per rendering: the same region and numbers, the rendering in the truth and in the
    writer's id; default batches do not change (rendering draws nothing when not asked)."""
    truths = {}
    for r in RENDERINGS:
        out = tmp_path / r
        generate_batch(GenerateOptions(out_dir=out, forms=1, province="32", seed=5, form_types=["ppwp-salinan"],
                                       quality="scan", procedural=True, rendering=r, workers=1,
                                       inconsistent_rate=1.0))
        truths[r] = TruthForm.model_validate_json((out / "truth.jsonl").read_text())
    base = truths["default"]
    for r, t in truths.items():
        assert t.rendering == r and t.values == base.values and t.region_code == base.region_code
        assert t.mistakes == base.mistakes and t.bubbles == base.bubbles
        assert [(p.dpi, p.rotation) for p in t.pages] == [(p.dpi, p.rotation) for p in base.pages]
        if r not in ("default", "other-scanner"):
            assert f"render={r}" in t.writer
    again = tmp_path / "again"
    generate_batch(GenerateOptions(out_dir=again, forms=1, province="32", seed=5, form_types=["ppwp-salinan"],
                                   quality="scan", procedural=True, workers=1, inconsistent_rate=1.0))
    for p in base.pages:
        assert (again / p.file).read_bytes() == (tmp_path / "default" / p.file).read_bytes()
