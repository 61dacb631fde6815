"""Registration on phone photos as officers take them (issue #11): one test per failure mode.

Fixtures are generated (``synth.photo_hard.photo_hard_case``: the look-alike plano page 2 seen as a
bent sheet through a wide lens) at 2 MP, so each registers in well under a second. Placement is
checked against the generator's truth (``boxes_px``): the page map, not just the homography.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from extract.geometry import PageMap, apply_h, page_map
from extract.read_page import unsure_where_misplaced
from extract.register import RegisterFailure, register_page
from schemas.layout import PageLayout
from schemas.reasons import Reason
from schemas.records import Registration
from synth.photo_hard import HardCase, filled_page, photo_hard_case

PPU = 1.6
FRAME = (1224, 1632)  # 2 MP portrait: fast, and the boxes still ~35 px
SHARED_PHOTO = Path(__file__).resolve().parents[2] / ".." / "shared" / "forms" / "photo-blank-plano-page2.jpeg"


@pytest.fixture(scope="module")
def page2() -> tuple[np.ndarray, PageLayout]:
    img, layout, _ = filled_page("ppwp", 2, seed=3, ppu=PPU)
    return img, layout


def _case(page2: tuple[np.ndarray, PageLayout], seed: int = 1, **params: object) -> HardCase:
    img, layout = page2
    base: dict[str, object] = dict(frame=FRAME, glare=0.0, shadow=0.0, pos=(0.5, 0.5), fill=0.85)
    base.update(params)
    return photo_hard_case(img, layout, np.random.default_rng(seed), ppu=PPU, **base)


def _gray(case: HardCase) -> np.ndarray:
    return cv2.cvtColor(case.image, cv2.COLOR_RGB2GRAY)


def _placement(reg: Registration, case: HardCase, layout: PageLayout) -> np.ndarray:
    """Distance (px) from where the page map puts each digit box centre to where it really is."""
    pmap = page_map(reg)
    out = []
    for f in layout.fields:
        lay = np.array([[b.cx, b.cy] for b in f.boxes])
        truth = np.asarray(case.boxes_px[f.id])[:, :2]
        out += np.hypot(*(pmap.to_image(lay) - truth).T).tolist()
    return np.asarray(out)


def _registered(case: HardCase, layout: PageLayout) -> Registration:
    reg = register_page(_gray(case))
    assert isinstance(reg, Registration), f"{reg.reason}: {reg.detail}"
    assert (reg.form_type.value, reg.page) == ("ppwp", 2)
    return reg


@pytest.mark.parametrize(("name", "params"), [
    ("45-degree tilt, barrel lens, curled", dict(tilt=45, curl=25, k1=-0.15, rotation=0, screen=False, seed=2)),
    ("40-degree tilt, strong curl and barrel", dict(tilt=40, curl=25, k1=-0.15, rotation=0, screen=False)),
    ("quarter turn, sagging, pincushion", dict(tilt=30, sag=0.05, curl=0.0, k1=0.06, rotation=90, screen=False)),
    ("photo of a screen", dict(screen=True, tilt=30, curl=0.0, rotation=270)),
])
def test_bent_tilted_turned_pages_register_with_boxes_placed(page2: tuple[np.ndarray, PageLayout], name: str,
                                                            params: dict) -> None:
    _, layout = page2
    params = dict(params)
    case = _case(page2, seed=int(params.pop("seed", 1)), **params)
    reg = _registered(case, layout)
    err = _placement(reg, case, layout)
    side = float(np.median([s for rows in case.boxes_px.values() for _, _, s in rows]))
    q = np.array([q for f in layout.fields for q in reg.box_quality[f.id]])
    assert float(np.median(err)) < 0.05 * side, f"{name}: median {np.median(err):.2f} px"
    # every box found is placed within a tenth of its side; a box placed worse must say so
    assert float(err[q >= 0.5].max()) < 0.1 * side, f"{name}: worst found box {err[q >= 0.5].max():.2f} px"
    assert np.mean(q >= 0.5) >= 0.6
    # the homography alone would not do (the reason for the map): it misses by more on a bent sheet
    if params.get("curl") or params.get("sag"):
        H = np.asarray(reg.homography)
        h_err = [float(np.hypot(*(apply_h(H, np.array([[b.cx, b.cy]]))[0] - case.boxes_px[f.id][i][:2])))
                 for f in layout.fields for i, b in enumerate(f.boxes)]
        assert max(h_err) > err.max()


def test_cut_off(page2: tuple[np.ndarray, PageLayout]) -> None:
    case = _case(page2, tilt=25, curl=0.0, rotation=0, screen=False, cut=0.5, cut_side="bottom")
    h, w = case.image.shape[:2]
    assert any(not (0 <= x < w and 0 <= y < h) for rows in case.boxes_px.values() for x, y, _ in rows)
    result = register_page(_gray(case))
    assert isinstance(result, RegisterFailure) and result.reason is Reason.CUT_OFF, result


def test_too_small(page2: tuple[np.ndarray, PageLayout]) -> None:
    case = _case(page2, tilt=20, curl=0.0, rotation=0, screen=False, fill=0.3)  # boxes ~10 px
    result = register_page(_gray(case))
    assert isinstance(result, RegisterFailure) and result.reason is Reason.TOO_SMALL, result


@pytest.mark.parametrize("blur", [dict(motion=15, motion_dir=20), dict(defocus=5)])
def test_too_blurred(page2: tuple[np.ndarray, PageLayout], blur: dict) -> None:
    case = _case(page2, tilt=25, curl=0.0, rotation=0, screen=False, **blur)
    result = register_page(_gray(case))
    assert isinstance(result, RegisterFailure) and result.reason is Reason.TOO_BLURRED, result


def test_hand_over_boxes_is_occluded_or_review(page2: tuple[np.ndarray, PageLayout]) -> None:
    """A hand (or a pen) over a vote field: never read as if the box were there. Either the page is
    rejected as occluded, or the covered boxes are weakly placed (their digits then read as unsure)."""
    _, layout = page2
    case = _case(page2, tilt=25, curl=0.0, rotation=0, screen=False, occluder="hand", occlude_field="votes_2")
    result = register_page(_gray(case))
    if isinstance(result, RegisterFailure):
        assert result.reason is Reason.OCCLUDED, result
        return
    assert min(result.box_quality["votes_2"]) < 0.5
    others = [q for fid, qs in result.box_quality.items() if fid != "votes_2" for q in qs]
    assert min(others) >= 0.5


def test_a_weakly_placed_box_reads_as_unsure() -> None:
    p = np.zeros((3, 12))
    p[:, 7] = 1.0
    out = unsure_where_misplaced(p, [1.0, 0.3, 0.0])
    assert np.array_equal(out[0], p[0])
    assert out[1].max() < 0.9 and np.allclose(out[2], 1 / 12)  # far below any acceptance threshold
    assert np.allclose(out.sum(axis=1), 1.0)


def test_page_map_passes_through_its_anchors() -> None:
    H = np.array([[0.7, 0.05, 100], [0.02, 0.68, 50], [1e-5, 2e-5, 1]])
    rng = np.random.default_rng(0)
    lay = rng.uniform(0, 1700, (40, 2))
    img = apply_h(H, lay) + rng.normal(0, 3, (40, 2))
    pmap = PageMap(H, np.c_[lay, img], smooth=1e-7)
    assert float(np.abs(pmap.to_image(lay) - img).max()) < 0.05
    Hs = pmap.rect_homographies(np.array([[100, 200, 54, 54]]))
    corner = np.array([[154.0, 254.0]])
    assert np.allclose(apply_h(Hs[0], corner), pmap.to_image(corner))
    assert np.allclose(PageMap(H).to_image(lay), apply_h(H, lay))


@pytest.mark.skipif(not SHARED_PHOTO.is_file(), reason="../shared/forms not present")
def test_real_blank_plano_photo_registers() -> None:
    from extract.decode import decode_file
    from schemas.settings import Limits, ReadSettings

    img = next(iter(decode_file(SHARED_PHOTO, Limits(), ReadSettings())))
    reg = register_page(img.gray)
    assert isinstance(reg, Registration), f"{reg.reason}: {reg.detail}"
    assert (reg.form_type.value, reg.page) == ("ppwp", 2)
    qs = [q for v in reg.box_quality.values() for q in v]
    assert sum(q >= 0.5 for q in qs) >= 0.8 * len(qs)
