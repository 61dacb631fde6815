"""The photo-hard mode: a bent sheet seen obliquely through a wide lens, turned, sometimes a screen.

The truth of placement (``boxes_px``) is checked against the image itself: the printed border of a
digit box must be where the forward model says, to a fraction of a pixel, whatever the bend, lens,
screen or quarter turn. Unreadable fixtures must be unreadable in the way they claim.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from schemas.layout import PageLayout
from schemas.truth import TruthForm
from synth import photo_hard as ph
from synth.generate import MIXED_QUALITY
from synth.photo_hard import filled_page, photo_hard_case

PPU = 1.6


@pytest.fixture(scope="module")
def page2() -> tuple[np.ndarray, PageLayout]:
    img, layout, _ = filled_page("ppwp", 2, seed=1, ppu=PPU)
    return img, layout


def border_offsets(img: np.ndarray, layout: PageLayout, project, n_boxes: int = 9) -> np.ndarray:
    """Signed distance (px, across the line) between where ``project`` puts the centre line of the
    top and left printed border of the first boxes, and where the ink of that border really is."""
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    errs = []
    for b in [b for f in layout.fields for b in f.boxes][:n_boxes]:
        t = 3.0  # the box border is a 3-unit rule just inside the box's rect
        for x0, y0, x1, y1, nx, ny in [(b.x + 8, b.y + t / 2, b.x + b.w - 8, b.y + t / 2, 0, 1),
                                       (b.x + t / 2, b.y + 8, b.x + t / 2, b.y + b.h - 8, 1, 0)]:
            for f in np.linspace(0, 1, 5):
                lx, ly = x0 + f * (x1 - x0), y0 + f * (y1 - y0)
                p = np.array(project(np.array([lx]), np.array([ly]))).ravel()
                q = np.array(project(np.array([lx + nx]), np.array([ly + ny]))).ravel()
                d = (q - p) / np.linalg.norm(q - p)
                s = np.arange(-8, 8.01, 0.25)
                prof = cv2.remap(gray, (p[0] + s * d[0]).astype(np.float32)[None],
                                 (p[1] + s * d[1]).astype(np.float32)[None], cv2.INTER_LINEAR)[0]
                dark = np.clip(np.percentile(prof, 90) - prof, 0, None)
                on = dark >= 0.5 * dark.max()
                # the runs of dark samples: the border's own is the one nearest the prediction
                # (the neighbouring box's border or a digit touching it may also cross the profile)
                edges = np.flatnonzero(np.diff(np.r_[0, on.astype(int), 0]))
                runs = zip(edges[::2], edges[1::2], strict=True)
                cents = [float((dark[a:e] * s[a:e]).sum() / dark[a:e].sum()) for a, e in runs]
                errs.append(min(cents, key=abs))
    return np.array(errs)


CASES = {
    "plain-draw": {},
    "curl-barrel-turned": dict(tilt=42, curl=30, k1=-0.2, fill=0.9, rotation=90, screen=False),
    "sag-pincushion-270": dict(tilt=35, sag=0.05, curl=0.0, k1=0.06, rotation=270, screen=False),
    "screen": dict(screen=True, tilt=30, rotation=180),
}


@pytest.mark.parametrize("name", list(CASES))
def test_boxes_px_lie_on_the_printed_borders(page2: tuple[np.ndarray, PageLayout], name: str) -> None:
    img, layout = page2
    case = photo_hard_case(img, layout, np.random.default_rng(11), ppu=PPU, glare=0.0, shadow=0.0, **CASES[name])
    h, w = case.image.shape[:2]
    rot = int(case.plan.params["rotation"])
    assert (h > w) == (rot in (0, 180)), "a quarter turn makes the portrait frame landscape"
    e = np.abs(border_offsets(case.image, layout, case.project))
    assert np.median(e) < 0.3 and np.percentile(e, 90) < 1.5, (name, np.round(e, 2))
    # boxes_px is the same model: centres inside the frame, sides about the printed size
    for f in layout.fields:
        for (cx, cy, side), b in zip(case.boxes_px[f.id], f.boxes, strict=True):
            assert 0 <= cx < w and 0 <= cy < h
            px, py = case.project(np.array([b.cx]), np.array([b.cy]))
            assert abs(px[0] - cx) < 0.01 and abs(py[0] - cy) < 0.01
            assert side > ph.MIN_BOX_PX


def test_no_single_homography_fits_a_bent_sheet() -> None:
    """Curl and lens bend the printed grid: the best homography misses boxes by many pixels,
    while a flat sheet through a perfect lens is fit exactly (the model is a true projection)."""
    from schemas.layout import load_layout

    layout = load_layout("ppwp").pages[0]
    pts = np.array([[b.cx, b.cy] for f in layout.fields for b in f.boxes]
                   + [[m.rect.cx, m.rect.cy] for m in layout.marks], np.float64)  # the whole page

    def residual(**kw) -> float:  # geometry only: no image needed, just the page's size at the plan's scale
        plan = ph.plan_photo_hard(np.random.default_rng(3), layout.width, layout.height, **kw)
        proj = ph.projector(plan, (round(layout.height * plan.ppu), round(layout.width * plan.ppu)))
        got = np.stack(proj(pts[:, 0], pts[:, 1]), 1)
        hm, _ = cv2.findHomography(pts, got, 0)
        fit = cv2.perspectiveTransform(pts[None], hm)[0]
        return float(np.linalg.norm(fit - got, axis=1).max())

    assert residual(tilt=40, curl=0.0, sag=0.0, k1=0.0, screen=False) < 0.05
    assert residual(tilt=40, curl=25, sag=0.0, k1=0.0, screen=False) > 8
    assert residual(tilt=40, curl=0.0, sag=0.0, k1=-0.2, screen=False) > 8


def test_same_seed_same_photo(page2: tuple[np.ndarray, PageLayout]) -> None:
    img, layout = page2
    a = photo_hard_case(img, layout, np.random.default_rng(5), ppu=PPU, frame=(1224, 1632))
    b = photo_hard_case(img, layout, np.random.default_rng(5), ppu=PPU, frame=(1224, 1632))
    c = photo_hard_case(img, layout, np.random.default_rng(6), ppu=PPU, frame=(1224, 1632))
    assert np.array_equal(a.image, b.image) and a.boxes_px == b.boxes_px and a.conditions == b.conditions
    assert a.conditions != c.conditions
    with pytest.raises(ValueError, match="multiples of 8"):
        photo_hard_case(img, layout, np.random.default_rng(5), ppu=PPU, frame=(1225, 1632))


def _sharpness(img: np.ndarray, boxes: dict[str, list[list[float]]]) -> float:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    cx, cy, s = next(iter(boxes.values()))[0]
    r = int(s * 1.5)
    roi = g[int(cy) - r: int(cy) + r, int(cx) - r: int(cx) + r]
    return float(cv2.Laplacian(roi, cv2.CV_32F).var())


def test_unreadable_fixtures_are_unreadable_as_they_claim(page2: tuple[np.ndarray, PageLayout]) -> None:
    img, layout = page2
    fixed = dict(tilt=30, curl=0.0, sag=0.0, k1=-0.1, rotation=0, screen=False, glare=0.0, shadow=0.0, fill=0.8,
                 pos=(0.5, 0.5), frame=(1224, 1632))  # 2 MP: fast, and the boxes still ~35 px
    rng = np.random.default_rng
    clean = photo_hard_case(img, layout, rng(1), ppu=PPU, **fixed)

    cut = photo_hard_case(img, layout, rng(1), ppu=PPU, **{**fixed, "cut": 0.3, "cut_side": "right"})
    h, w = cut.image.shape[:2]
    centres = [(cx, cy) for rows in cut.boxes_px.values() for cx, cy, _ in rows]
    assert any(cx >= w for cx, _ in centres), "the vote boxes sit on the right: some must be cut off"
    assert cut.conditions["cut"] == 0.3

    small = photo_hard_case(img, layout, rng(1), ppu=PPU, **{**fixed, "fill": 0.12})
    assert small.conditions["min_box_px"] < ph.MIN_BOX_PX

    sharp = _sharpness(clean.image, clean.boxes_px)
    moved = photo_hard_case(img, layout, rng(1), ppu=PPU, **fixed, motion=15, motion_dir=20)
    defocused = photo_hard_case(img, layout, rng(1), ppu=PPU, **fixed, defocus=5)
    assert _sharpness(moved.image, moved.boxes_px) < 0.3 * sharp
    assert _sharpness(defocused.image, defocused.boxes_px) < 0.3 * sharp

    hand = photo_hard_case(img, layout, rng(1), ppu=PPU, **fixed, occluder="hand", occlude_field="votes_2")
    cx, cy, s = hand.boxes_px["votes_2"][0]
    roi = hand.image[int(cy - s / 3): int(cy + s / 3), int(cx - s / 3): int(cx + s / 3)].reshape(-1, 3).astype(int)
    assert np.median(roi[:, 0] - roi[:, 2]) > 25, "skin, not paper, over the box"
    assert hand.conditions["occluder"] == "hand"

    fold = photo_hard_case(img, layout, rng(1), ppu=PPU, **fixed, fold=25, fold_dir=90, fold_at=0.0)
    assert fold.conditions["fold"] == 25
    # the crease (across the middle of the page) bends the lower half away: what maps the boxes above
    # it from the unfolded photo onto the folded one misses the boxes below it
    def centres(c: ph.HardCase, ids: list[str]) -> np.ndarray:
        return np.array([b[:2] for f in ids for b in c.boxes_px[f]], np.float64)

    above, below = ["votes_1", "votes_2"], ["votes_3"]
    hm, _ = cv2.findHomography(centres(clean, above), centres(fold, above), 0)
    fit = cv2.perspectiveTransform(centres(clean, above)[None], hm)[0]
    assert np.abs(fit - centres(fold, above)).max() < 1
    miss = cv2.perspectiveTransform(centres(clean, below)[None], hm)[0] - centres(fold, below)
    assert np.linalg.norm(miss, axis=1).min() > 5


def test_readable_draws_keep_boxes_big_and_in_frame() -> None:
    """Drawn (not fixed) parameters always give a page a person can read: every box in the frame,
    at least MIN_BOX_PX, no part of the sheet seen edge-on; and they do cover the hard cases."""
    from schemas.layout import load_layout

    rng = np.random.default_rng(0)
    tilts, curls, screens, turns = [], [], 0, set()
    for i in range(30):
        layout = load_layout("dhasil-ppwp" if i % 2 else "ppwp").pages[i % 3]
        sides = [min(b.w, b.h) for f in layout.fields for b in f.boxes]
        plan = ph.plan_photo_hard(rng, layout.width, layout.height, box_frac=min(sides) / layout.width)
        shape = (int(round(layout.height * plan.ppu)), int(round(layout.width * plan.ppu)))
        sheet, g, _ = ph._sheet_and_geometry(plan, shape)
        boxes = ph.boxes_px(layout, ph.projector(plan, shape))
        fw, fh = g.frame
        w, h = (fw, fh) if plan.params["rotation"] in (0, 180) else (fh, fw)
        assert all(0 <= cx < w and 0 <= cy < h for rows in boxes.values() for cx, cy, _ in rows)
        assert min(s for rows in boxes.values() for *_, s in rows) >= ph.MIN_BOX_PX * 0.95
        assert ph.obliquity(g) >= ph.MIN_OBLIQUITY
        o = g.outline()
        assert o[:, 0].min() >= 0 and o[:, 1].min() >= 0 and o[:, 0].max() < fw and o[:, 1].max() < fh
        tilts.append(g.tilt)
        curls.append(abs(g.curl))
        screens += bool(plan.params["screen_spec"])
        turns.add(plan.params["rotation"])
    assert max(tilts) > 40 and np.mean(np.array(tilts) >= 25) >= 0.5  # D.Hasil's small boxes pull some back
    assert max(curls) > 20 and screens >= 1 and turns == {0, 90, 180, 270}


def test_mixed_keeps_scans_and_faxes_where_they_were() -> None:
    """photo-hard takes its share from photo only, placed right after it: the cumulative bounds of
    scan and fax (so which forms of a mixed batch are scans and faxes) do not move."""
    before = {"ppwp": {"photo": 0.5, "scan": 0.35, "fax": 0.15},
              "ppwp-salinan": {"scan": 0.6, "fax": 0.25, "photo": 0.15},
              "dpr": {"photo": 0.4, "scan": 0.45, "fax": 0.15},
              "dhasil-ppwp": {"scan": 0.6, "photo": 0.25, "fax": 0.15}}

    def bounds(d: dict[str, float], q: str) -> tuple[float, float]:
        keys = list(d)
        lo = sum(d[k] for k in keys[: keys.index(q)])
        return round(lo, 9), round(lo + d[q], 9)

    for ft, shares in MIXED_QUALITY.items():
        assert shares.get("photo-hard", 0) > 0
        assert abs(shares["photo"] + shares["photo-hard"] - before[ft.value]["photo"]) < 1e-9
        for q in ("scan", "fax"):
            assert bounds(shares, q) == bounds(before[ft.value], q)


def test_cli_generates_photo_hard_with_truth(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    out = tmp_path / "ph"
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, ["generate", str(out), "--forms", "1", "--form-type", "ppwp-salinan",
                                   "--quality", "photo-hard", "--workers", "1", "--seed", "7"])
    seconds = time.perf_counter() - t0
    assert res.exit_code == 0, res.output
    truths = [TruthForm.model_validate_json(x) for x in (out / "truth.jsonl").read_text().splitlines()]
    assert len(truths) == 1 and len(truths[0].pages) == 2
    for p in truths[0].pages:
        assert p.quality == "photo-hard" and p.file.endswith(".jpg")
        img = cv2.imread(str(out / p.file))
        h, w = img.shape[:2]
        assert 7.9e6 <= h * w <= 12.5e6  # 8-12 MP
        assert p.rotation == p.conditions["rotation"]
        assert {"tilt", "curl", "k1", "fill", "screen", "min_box_px"} <= set(p.conditions)
        assert set(p.boxes_px) and all(0 <= cx < w and 0 <= cy < h for rows in p.boxes_px.values()
                                       for cx, cy, _ in rows)
    raw = json.loads((out / "truth.jsonl").read_text().splitlines()[0])
    assert raw["pages"][0]["boxes_px"], "written into truth.jsonl, not only in memory"
    assert seconds < 30, f"2 pages of 8-12 MP took {seconds:.1f} s"


def test_a_12_mp_photo_costs_about_a_second_of_one_core(page2: tuple[np.ndarray, PageLayout]) -> None:
    """The warp is one remap at full resolution from a map solved on a 1/8 grid: photographing a
    12-MP page (plan, warp, light, blur, noise) stays around half a second of one core."""
    img, layout = page2
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        photo_hard_case(img, layout, np.random.default_rng(0), ppu=PPU, frame=(3000, 4000))  # warm caches
        cpu = []
        for seed in (1, 2):
            t0 = time.process_time()
            c = photo_hard_case(img, layout, np.random.default_rng(seed), ppu=PPU, frame=(3000, 4000), screen=False)
            cpu.append(time.process_time() - t0)
            assert c.image.shape[0] * c.image.shape[1] == 12_000_000
    finally:
        cv2.setNumThreads(threads)
    assert min(cpu) < 1.5, f"{cpu} s of CPU per 12-MP photo"


def test_a_case_written_as_jpeg_with_real_handwriting(tmp_path: Path) -> None:
    """What a registration test does: a page in real handwriting (when ../shared has it), one hard
    case, written as the phone's JPEG and read back at the size boxes_px refers to."""
    img, layout, contents = filled_page("ppwp-salinan", 1, seed=4, ppu=3.0, handwriting=True)
    assert set(contents) == {f.id for f in layout.fields}
    case = photo_hard_case(img, layout, np.random.default_rng(2), ppu=3.0, frame=(1224, 1632), rotation=90)
    case.write(tmp_path / "case.jpg")
    back = cv2.imread(str(tmp_path / "case.jpg"))
    assert back.shape == case.image.shape == (1224, 1632, 3)
