"""TruthPage.boxes_px for every quality: the printed box borders are where the truth says,
after the scanner's skew and shift, the flat photo's perspective, the fax's halving, and a turn."""

from __future__ import annotations

import numpy as np
import pytest
from test_photo_hard import border_offsets

from synth import degrade
from synth.photo_hard import boxes_px, filled_page

CASES = {
    "scan-skewed": ("scan", {"angle": 2.4}, 90),
    "scan-straight": ("scan", {"angle": 0.0, "binary": False}, 0),
    "photo": ("photo", {}, 270),
    "fax": ("fax", {}, 180),
}


@pytest.mark.parametrize("name", list(CASES))
def test_boxes_px_on_the_printed_borders(name: str) -> None:
    quality, fixed, rot = CASES[name]
    rng = np.random.default_rng(4)
    from schemas.layout import load_layout

    layout = load_layout("ppwp").pages[1]
    plan = degrade.plan(quality, rng, layout.width, layout.height)
    plan.params.update(fixed)
    if quality == "scan":  # 300 dpi: thick enough borders to locate to a fraction of a pixel
        plan.ppu = degrade.a4_px_per_unit(layout.width, 300)
    page, layout, _ = filled_page("ppwp", 2, seed=3, ppu=plan.ppu, colour=plan.colour)
    d = degrade.rotate(degrade.apply(page, plan, rng), rot)
    proj = degrade.projector(plan, page.shape, rot)
    img = d.image if d.image.ndim == 3 else np.repeat(d.image[..., None], 3, axis=2)
    e = np.abs(border_offsets(img, layout, proj))
    tol = 0.6 if quality == "fax" else 0.3  # the fax is 100 dpi and thresholded: 1.5-px borders
    assert np.median(e) < tol and np.percentile(e, 75) < 2 * tol, (name, np.round(e, 2))
    h, w = img.shape[:2]
    placed = boxes_px(layout, proj)
    assert all(0 <= cx < w and 0 <= cy < h for rows in placed.values() for cx, cy, _ in rows)
