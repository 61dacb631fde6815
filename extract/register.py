"""Page registration: find the form in a page image, tell which page it is, map layout -> image.

``register_page`` works on one grayscale page at its native resolution (200-dpi scan, phone
photo, fax) and returns a ``Registration`` (a homography from layout units to image pixels plus
the anchors of a smooth correction: ``extract.geometry.page_map``) or a ``RegisterFailure`` with
an enumerated reason. Everything about the forms comes from the layouts (``schemas/layouts``):
tag ids, tag corners, corner marks, frames, ruled rows, digit boxes, rules and bubbles.

How (fast: detection runs on a copy halved until its long side is <= ``detect_max_side``):
1. blank check on a tiny copy;
2. AprilTag 36h10 (``extract.tags``) -> (form type, page) and a first guess from its four
   corners; the corner marks (pairs of squares, ``extract.marks``) are searched where the guess
   puts them, nearest first, then refined at full resolution in small windows. When marks are
   missing (strong perspective, a bent sheet, a look-alike taken), every mark look-alike of the
   picture (``square_pairs``) is assigned by RANSAC over pairs of marks, and the printed boxes
   decide between the candidates (``extract.refine.probe``);
3. the printed structure itself places every digit box (``extract.refine.refine_boxes``: each
   box found where it is printed, with a quality 0..1; on a flat page a few boxes confirm the
   homography); the page map goes through the tag corners, the marks and the boxes found;
4. tag-less pages (A4 Salinan): the printed frame's corners under each of four turns and each
   tag-less page are scored by the ruled table rows (``frame``);
5. a tag not found on the detection copy is looked for again on the finer levels;
6. only what a person could not read is rejected (``_judge``): digit boxes outside the picture
   (CUT_OFF), too small (TOO_SMALL, measured box side), too blurred (TOO_BLURRED, measured edge
   spread of the box borders, or nothing found in a blurred picture), most boxes not where the
   printed structure should be (OCCLUDED; none at all: TOO_SKEWED, the page cannot be located).
   Perspective alone is no reason. A box not found is weakly placed: its digits read as unsure.
WRONG_FORM_TYPE is the caller's decision (it knows what the file claims to be); ``expected``
only orders the attempts (tag-less form types try the frame first).
"""

from __future__ import annotations

import itertools
from functools import cache

import cv2
import numpy as np
from pydantic import BaseModel, Field

from extract.frame import dark_mask, find_frame, frame_hypotheses, line_score, printed_lines
from extract.geometry import apply_h, fit_affine, fit_h, jacobian
from extract.marks import MarkMatch, find_mark, mark_candidates, square_pairs
from extract.refine import Refinement, probe, refine_boxes
from extract.tags import detect_tags
from schemas.layout import FormLayout, FormType, Mark, PageLayout, load_layout
from schemas.reasons import Reason
from schemas.records import Registration


class RegisterLimits(BaseModel):
    """Thresholds of registration; defaults are safe for scans, faxes and phone photos."""

    detect_max_side: int = Field(1600, description="halve the detection copy while its long side is above")
    min_box_px: float = Field(14.0, description="smallest digit box side (px) that can still be read")
    min_px_per_unit: float = Field(0.2, description="image pixels per layout unit, at least")
    max_anisotropy: float = Field(1.8, description="ratio of the local scales along two directions "
                                                   "(1.8 is about a 55 degree tilt)")
    max_scale_ratio: float = Field(2.2, description="largest / smallest local scale over the page "
                                                    "(perspective)")
    max_reprojection_error: float = Field(3.0, description="layout units; marks beyond are dropped")
    wide_mark_error: float = Field(25.0, description="layout units: marks found anywhere in the image "
                                                     "must fit the tag's homography this well (a bent "
                                                     "sheet bends it)")
    min_marks: int = Field(3, description="marks needed for 'tag+marks'; fewer: tag only")
    mark_search_fracs: tuple[float, ...] = Field((0.06, 0.2, 0.35), description="mark search radius "
                                                 "per pass, fraction of the distance to the nearest known point")
    blank_ink_fraction: float = Field(0.0005, description="a page with less ink than this is blank")
    min_line_score: float = Field(0.55, description="printed rules on ink (0..1) a registration with "
                                                    "missing marks needs; wrong ones score ~0.2-0.5")
    frame_min_score: float = Field(0.3, description="ruled-row score a frame page needs")
    frame_min_margin: float = Field(0.1, description="best frame hypothesis must lead the next by this")
    edge_margin_px: float = Field(1.0, description="digit boxes must lie this far inside the image")
    flat_error: float = Field(0.8, description="layout units: tag and all marks within this of one "
                                               "homography make a flat page (a few boxes checked, not all)")
    min_sharpness: float = Field(0.27, description="edge sharpness (see _sharpness) below which a picture "
                                                   "where nothing was found is called too blurred")
    min_box_quality: float = Field(0.5, description="a box placed below this quality is weakly placed")
    trusted_share: float = Field(0.85, description="share of boxes found below which the page's "
                                                  "registration is weak (the form goes to review)")
    min_found_share: float = Field(0.5, description="share of digit boxes that must be found, or the "
                                                    "page is occluded (fewer missing: those boxes are "
                                                    "weakly placed and read as unsure)")
    max_blur: float = Field(0.075, description="edge spread of the box borders (Gaussian sigma, share "
                                               "of the box side) above which digits cannot be read")


class RegisterFailure(BaseModel):
    reason: Reason
    detail: str = ""


def register_page(gray: np.ndarray, expected: FormType | None = None,
                  limits: RegisterLimits | None = None) -> Registration | RegisterFailure:
    """Register one page image (uint8 gray; BGR is converted). See the module doc."""
    limits = limits or RegisterLimits()
    gray = _as_gray(gray)
    if gray.size == 0 or min(gray.shape) < 16:
        return RegisterFailure(reason=Reason.TOO_SMALL, detail=f"image of {gray.shape} pixels")
    levels = _pyramid(gray, limits.detect_max_side)
    small, k = levels[-1]
    ink = _ink_fraction(small)
    if ink < limits.blank_ink_fraction:
        return RegisterFailure(reason=Reason.BLANK_PAGE, detail=f"ink on {ink:.2%} of the page")

    tagless_first = expected is not None and _frame_pages(expected) and not _tag_pages(expected)
    steps = ["frame", "tag"] if tagless_first else ["tag", "frame"]
    # A form small in a large photo: its tag may only be readable at a finer level (or, at the
    # input's own resolution, with the slower detector that keeps small candidates).
    steps += [f"tag@{i}" for i in range(max(len(levels) - 2, 0), -1, -1)]
    failure: RegisterFailure | None = None
    for step in steps:
        if step == "frame":
            result = _by_frame(gray, small, k, expected, limits)
        else:
            img, kk = levels[int(step[4:])] if "@" in step else (small, k)
            result = _by_tag(gray, img, kk, limits, levels, thorough="@" in step)
        if isinstance(result, Registration):
            return result
        if result is not None and failure is None:
            failure = result
        if result is not None and step.startswith("tag@"):
            break  # a tag was found: a finer level will not find a better one
    if failure is None or failure.reason is Reason.NO_MARKS:
        # Nothing found: say so when the picture is too blurred for anything to be found.
        sharp = _sharpness(next(im for im, _ in levels if max(im.shape) <= 2 * limits.detect_max_side))
        if sharp < limits.min_sharpness:
            return RegisterFailure(reason=Reason.TOO_BLURRED,
                                   detail=f"no page tag found and the picture is blurred (edge sharpness "
                                          f"{sharp:.2f}, limit {limits.min_sharpness})")
    return failure or RegisterFailure(reason=Reason.NO_MARKS, detail="no page tag and no printed frame found")


def _sharpness(img: np.ndarray) -> float:
    """How sharp the picture's strongest edges are, in the direction they are least sharp (motion
    blur smears one direction only): the 99.5th percentile of the directional derivative over the
    local contrast, the smallest of four directions. Measured on generated 2 MP photos: sharp
    pages 0.33-0.46, motion blur of 8 px 0.26, of 15 px 0.18, a 5 px defocus 0.22."""
    g = img.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8
    k = np.ones((9, 9), np.uint8)
    con = cv2.dilate(g, k) - cv2.erode(g, k)
    sel = con > 40
    if np.count_nonzero(sel) < 100:
        return 1.0  # no edges at all: a blank or flat picture, not a blurred one
    c = con[sel]
    return min(float(np.percentile(np.abs(gx[sel] * np.cos(t) + gy[sel] * np.sin(t)) / c, 99.5))
               for t in np.radians([0, 45, 90, 135]))


# -- detection copy --------------------------------------------------------------------------


def _as_gray(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def _pyramid(gray: np.ndarray, max_side: int) -> list[tuple[np.ndarray, int]]:
    """[(image, k)]: the input, then halvings (INTER_AREA by exactly 2 is a fast SIMD path)."""
    levels = [(gray, 1)]
    img, k = gray, 1
    while max(img.shape) > max_side:
        h, w = img.shape
        img = cv2.resize(img[: h // 2 * 2, : w // 2 * 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        k *= 2
        levels.append((img, k))
    return levels


def _to_level(k: int) -> np.ndarray:
    """Full-resolution pixel coordinates -> those of a copy halved to 1/k (pixel centres)."""
    o = (k - 1) / 2
    return np.array([[1 / k, 0, -o / k], [0, 1 / k, -o / k], [0, 0, 1.0]])


def _from_level(k: int) -> np.ndarray:
    o = (k - 1) / 2
    return np.array([[k, 0, o], [0, k, o], [0, 0, 1.0]], np.float64)


def _ink_fraction(small: np.ndarray) -> float:
    tiny = small
    while max(tiny.shape) > 700:
        h, w = tiny.shape
        tiny = cv2.resize(tiny[: h // 2 * 2, : w // 2 * 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    paper = cv2.dilate(tiny, np.ones((9, 9), np.uint8))
    return float(np.count_nonzero(cv2.subtract(paper, tiny) > 60)) / tiny.size


# -- tag + marks -------------------------------------------------------------------------------


@cache
def _aruco(thorough: bool) -> cv2.aruco.ArucoDetector:
    """The full-image detector, the fallback when the blob pre-filter finds no tag."""
    p = cv2.aruco.DetectorParameters()
    # One threshold window instead of three; a clean tag border (a box that merely looks like
    # one costs the decoder milliseconds: with the default 0.35 a noisy photo takes seconds).
    p.adaptiveThreshWinSizeMin = 15
    p.adaptiveThreshWinSizeMax = 15
    p.maxErroneousBitsInBorderRate = 0.2
    # Fast: tags of a page spanning >~45% of the image's long side; thorough: smaller ones.
    p.minMarkerPerimeterRate = 0.02 if thorough else 0.06
    p.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE
    return cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_APRILTAG_36h10), p)


def _find_tags(img: np.ndarray, thorough: bool) -> list[tuple[np.ndarray, int]]:
    """[(4 x 2 corners, id)]: the blob pre-filter first (fast; pindai's own tag ids only), the full
    detector if it finds none (every 36h10 id: another project's tag is reported as an unknown page)."""
    hits = detect_tags(img, min_side=12 if thorough else 16, max_side_frac=_tag_max_frac(),
                       known=_tag_ids())
    if hits:
        return [(t.corners, t.id) for t in hits]
    corners, ids, _ = _aruco(thorough).detectMarkers(img)
    if ids is None:
        return []
    return [(c.reshape(4, 2).astype(np.float64), int(i)) for c, i in zip(corners, ids.ravel(), strict=True)]


def _by_tag(gray: np.ndarray, img: np.ndarray, k: int, limits: RegisterLimits,
            levels: list[tuple[np.ndarray, int]], thorough: bool = False) -> Registration | RegisterFailure | None:
    """Tag on ``img`` (``gray`` halved to 1/k), marks there too, then refined on ``gray``."""
    found = _find_tags(img, thorough)
    if not found:
        return None
    index = _tag_index()
    known = [(c, i) for c, i in found if i in index]
    if not known:
        return RegisterFailure(reason=Reason.UNKNOWN_PAGE,
                               detail=f"tag id(s) {sorted({i for _, i in found})} match no known page")
    tag_px, tag_id = max(known, key=lambda ci: cv2.arcLength(ci[0].astype(np.float32), True))
    form_type, page_no = index[tag_id]
    page = _layouts()[form_type].pages[page_no - 1]
    assert page.tag is not None
    tag_layout = np.asarray(page.tag.corners, np.float64)
    # The detector's corners are whole pixels on the inside of the black border: refine them.
    tag_px = _subpix(img, tag_px, 2)
    H = fit_h(tag_layout, tag_px)
    if H is None:
        return RegisterFailure(reason=Reason.TOO_SKEWED, detail="degenerate tag")
    dark = _Dark(img, page)
    matches = _coarse_marks(img, dark, page, tag_layout, tag_px, limits)
    H = _model(tag_layout, tag_px, [m for _, m in matches], page)
    if H is None:
        return RegisterFailure(reason=Reason.TOO_SKEWED, detail="degenerate fit")
    # Fine: the same search at full resolution in small windows around the coarse positions.
    up = _from_level(k)
    tag_full = apply_h(up, tag_px)
    if k > 1:
        tag_full = _subpix(gray, tag_full, k + 1)
        H_up = up @ H
        refined = []
        for mark, m in matches:
            fine = find_mark(gray, H_up, mark, 2.0 * k)
            refined.append(fine if fine is not None else MarkMatch(m.layout_pts, apply_h(up, m.image_pts)))
        marks = refined
    else:
        marks = [m for _, m in matches]
    H_full = _model(tag_layout, tag_full, marks, page)
    if H_full is None:
        return RegisterFailure(reason=Reason.TOO_SKEWED, detail="degenerate fit")
    H_full, marks = _drop_outliers(H_full, tag_layout, tag_full, marks, limits.max_reprojection_error)
    wide: list[tuple[np.ndarray, list[MarkMatch]]] = []
    if len(marks) < len(page.marks):
        # Strong perspective or a bent sheet: the guess misses the far marks, or took a look-alike.
        # Marks looked for everywhere give other candidates; the printed boxes decide between them.
        best = probe(levels, page, H_full)
        wide = _global_marks(levels, page, tag_layout, tag_full, H_full, limits, keep=6) if best < 0.8 else []
        local = (H_full, marks)
        for Hc, mc in wide:
            if best >= 0.8:
                break
            q = probe(levels, page, Hc)
            if q > best + 0.05:
                best, H_full, marks = q, Hc, mc
        wide = [local] + wide
    guesses = _guesses(tag_layout, tag_full, marks, page)
    if len(guesses) > 1 and len(dark.lines):
        # Affine or homography (marks missing): the one that lays the printed rules on ink.
        down = _to_level(k)
        H_full = max(guesses, key=lambda G: line_score(dark.get(), down @ G, dark.lines))
    bad = _check_basic(H_full, page, limits)
    if bad is not None:
        return bad
    ref = _refine(levels, page, tag_layout, tag_full, H_full, marks, limits)
    # The probe judges a homography alone; through the tag and the marks (the refinement's start)
    # another candidate may place far more boxes on a bent sheet: tried when few were found.
    for Hc, mc in wide[:4]:
        if _found_share(ref, limits) >= limits.trusted_share:
            break
        if Hc is H_full or _check_basic(Hc, page, limits) is not None:
            continue
        alt = _refine(levels, page, tag_layout, tag_full, Hc, mc, limits)
        if _found_share(alt, limits) > _found_share(ref, limits) + 0.1:
            ref, H_full, marks = alt, Hc, mc
    method = "tag+marks" if len(marks) >= limits.min_marks else "tag"
    err = _reprojection_error(H_full, np.vstack([tag_layout] + [m.layout_pts for m in marks]),
                              np.vstack([tag_full] + [m.image_pts for m in marks]))
    return _judge(page, H_full, ref, gray.shape, err, len(marks), method, limits)


def _refine(levels: list[tuple[np.ndarray, int]], page: PageLayout, tag_layout: np.ndarray, tag_full: np.ndarray,
            H: np.ndarray, marks: list[MarkMatch], limits: RegisterLimits) -> Refinement:
    err = _reprojection_error(H, np.vstack([tag_layout] + [m.layout_pts for m in marks]),
                              np.vstack([tag_full] + [m.image_pts for m in marks]))
    fixed = np.vstack([np.c_[tag_layout, tag_full]] + [np.c_[m.layout_pts, m.image_pts] for m in marks])
    flat = len(marks) == len(page.marks) and err < limits.flat_error
    return refine_boxes(levels, page, H, fixed, flat=flat)


def _found_share(ref: Refinement, limits: RegisterLimits) -> float:
    return sum(b.quality >= limits.min_box_quality for b in ref.boxes) / max(len(ref.boxes), 1)


def _coarse_marks(img: np.ndarray, dark: _Dark, page: PageLayout, tag_layout: np.ndarray,
                  tag_px: np.ndarray, limits: RegisterLimits) -> list[tuple[Mark, MarkMatch]]:
    """Find the corner marks on the detection copy, nearest the known points first.

    The guess is affine until all marks are known (a tag of a few dozen pixels cannot tell
    perspective; the homography guess is tried when the affine one misses), so its error grows
    with the distance to the nearest known point: the search radius is a fraction of that
    distance, small first (fast on scans), larger for the marks still missing (tilted photos).
    """
    known = [tag_layout.mean(axis=0)]
    matches: list[tuple[Mark, MarkMatch]] = []
    pending = list(page.marks)
    H = _model(tag_layout, tag_px, [], page)
    if H is None:
        return []
    for frac in limits.mark_search_fracs:
        still = []
        while pending:
            dists = [min(np.hypot(m.rect.cx - q[0], m.rect.cy - q[1]) for q in known) for m in pending]
            i = int(np.argmin(dists))
            mark = pending.pop(i)
            r = frac * dists[i] * float(np.sqrt(abs(np.linalg.det(jacobian(H, mark.rect.cx, mark.rect.cy)))))
            r = min(r, 0.5 * max(img.shape))
            m = find_mark(img, H, mark, r)
            if m is None and len(matches) < 4:  # the homography guess, when the affine one missed
                for guess in _guesses(tag_layout, tag_px, [mm for _, mm in matches], page)[1:]:
                    if (m := find_mark(img, guess, mark, r)) is not None:
                        break
            H2 = _model(tag_layout, tag_px, [mm for _, mm in matches] + [m], page) if m is not None else None
            if m is None or H2 is None:
                still.append(mark)
                continue
            matches.append((mark, m))
            known.append(np.array([mark.rect.cx, mark.rect.cy]))
            H = H2
        pending = still
        if not pending:
            break
    if pending and len(matches) >= 2:
        matches += _consistent_marks(img, dark, page, tag_layout, tag_px, matches, pending, H, limits)
    return matches


def _consistent_marks(img: np.ndarray, dark: _Dark, page: PageLayout, tag_layout: np.ndarray,
                      tag_px: np.ndarray, matches: list[tuple[Mark, MarkMatch]], pending: list[Mark],
                      H: np.ndarray, limits: RegisterLimits) -> list[tuple[Mark, MarkMatch]]:
    """Strong perspective: the affine guess misses the far marks. Take every look-alike in a wide
    window (at several sizes), keep the combinations a homography fits (found marks + tag fixed)
    and of those the one that lays the printed rules on ink best."""
    cands: list[list[MarkMatch | None]] = []
    for mark in pending:
        dist = min(np.hypot(mark.rect.cx - mm.layout_pts[:, 0].mean(), mark.rect.cy - mm.layout_pts[:, 1].mean())
                   for _, mm in matches)
        r = 0.6 * dist * float(np.sqrt(abs(np.linalg.det(jacobian(H, mark.rect.cx, mark.rect.cy)))))
        found: list[MarkMatch] = []
        for f in (1.0, 1.4, 0.7):
            found += mark_candidates(img, H, mark, min(r, max(img.shape)), size_factor=f)[:4]
        cands.append(found + [None])
    base = [m for _, m in matches]
    fits: list[tuple[int, float, np.ndarray, tuple[MarkMatch | None, ...]]] = []
    for combo in itertools.product(*cands):
        chosen = [m for m in combo if m is not None]
        if not chosen:
            continue
        Hc = fit_h(np.vstack([tag_layout] + [m.layout_pts for m in base + chosen]),
                   np.vstack([tag_px] + [m.image_pts for m in base + chosen]))
        if Hc is None:
            continue
        Hi = np.linalg.inv(Hc)
        err = max(float(np.hypot(*(apply_h(Hi, m.image_pts) - m.layout_pts).T).max()) for m in base + chosen)
        if err <= limits.max_reprojection_error:
            fits.append((len(chosen), err, Hc, combo))
    fits.sort(key=lambda f: (-f[0], f[1]))
    best: tuple[int, float, tuple[MarkMatch | None, ...]] | None = None
    for n, _, Hc, combo in fits[:12]:
        ls = line_score(dark.get(), Hc, dark.lines)
        if ls >= limits.min_line_score and (best is None or (n, ls) > (best[0], best[1])):
            best = (n, ls, combo)
    if best is None:
        return []
    return [(mark, m) for mark, m in zip(pending, best[2], strict=True) if m is not None]


def _global_marks(levels: list[tuple[np.ndarray, int]], page: PageLayout, tag_layout: np.ndarray,
                  tag_full: np.ndarray, H: np.ndarray, limits: RegisterLimits,
                  keep: int = 3) -> list[tuple[np.ndarray, list[MarkMatch]]]:
    """Every mark look-alike of the image (``square_pairs``), assigned to the layout's marks.

    The tag's own affine fit tells each mark's direction and rough distance from the tag (not the
    perspective): candidates must lie within a cone around that direction, at 0.3-4 times that
    distance, of a plausible size and with the squares on the right diagonal. Then RANSAC over
    pairs of marks (vectorised): two candidates and the tag corners fix a homography, the other
    marks must lie on candidates where it puts them (within ``wide_mark_error`` layout units: a
    curled sheet bends it). Returns the ``keep`` best (homography, marks at full resolution)."""
    if not page.marks:
        return []
    A = fit_affine(tag_layout, tag_full)
    if A is None:
        return []
    centres = np.array([[m.rect.cx, m.rect.cy] for m in page.marks])
    sides = np.array([max(m.rect.w, m.rect.h) for m in page.marks])
    ppu = float(np.sqrt(abs(np.linalg.det(A[:2, :2]))))
    exp_px = ppu * sides
    k = 1  # the level where a mark is ~16 px or more: thresholding a smaller one merges its squares
    for _img, kk in levels:
        if 0.5 * float(exp_px.min()) / kk >= 8 and kk > k:
            k = kk
    img = next(im for im, kk in levels if kk == k)
    found = square_pairs(img, max(4.0, 0.25 * float(exp_px.min()) / k), 5.0 * float(exp_px.max()) / k)
    if len(found) < 2:
        return []
    pts = apply_h(_from_level(k), found[:, :2])
    size = found[:, 2] * k
    tag_c_l = tag_layout.mean(axis=0)
    tag_c = apply_h(A, tag_c_l[None])[0]
    pred = apply_h(A, centres)
    cands: list[np.ndarray] = []
    for i, mark in enumerate(page.marks):
        v = pred[i] - tag_c
        dist = float(np.hypot(*v))
        w = pts - tag_c
        dw = np.hypot(*w.T)
        cos = (w @ v) / np.maximum(dw * dist, 1e-9)
        ok = (cos >= np.cos(np.radians(50))) & (dw >= 0.3 * dist) & (dw <= 4.0 * dist) \
            & (size >= 0.25 * exp_px[i]) & (size <= 5.0 * exp_px[i])
        if len(mark.cells) == 2:
            # the squares' diagonal as the tag maps it (a turn or a tilt never flips it)
            c0, c1 = mark.cells[0], mark.cells[1]
            step = A[:2, :2] @ np.array([c1.cx - c0.cx, c1.cy - c0.cy])
            ok &= found[:, 3] == (1.0 if step[0] * step[1] > 0 else -1.0)
        idx = np.flatnonzero(ok)
        # best aligned first: perspective stretches the distances, hardly the directions
        cands.append(idx[np.argsort(-cos[idx])][:30])
    tol_px = limits.wide_mark_error * ppu * 2.5  # the far side of a tilted sheet is larger
    fits: dict[tuple[tuple[int, int], ...], tuple[int, float, np.ndarray]] = {}
    pairs = sorted(itertools.combinations(range(len(centres)), 2),
                   key=lambda ab: -float(np.hypot(*(centres[ab[0]] - centres[ab[1]]))))
    for a, b in pairs:
        ca, cb = cands[a], cands[b]
        if not len(ca) or not len(cb):
            continue
        ja, jb = (g.ravel() for g in np.meshgrid(ca, cb, indexing="ij"))
        sel = ja != jb
        ja, jb = ja[sel], jb[sel]
        Hs = _fit_h_batch(np.vstack([tag_layout, centres[[a, b]]]), tag_full, pts[ja], pts[jb])
        votes = np.zeros(len(ja), int) + 2
        chosen = np.full((len(ja), len(centres)), -1)
        chosen[:, a], chosen[:, b] = ja, jb
        for i in range(len(centres)):
            if i in (a, b) or not len(cands[i]):
                continue
            p = _apply_hs(Hs, centres[i])
            d = np.hypot(*(p[:, None, :] - pts[cands[i]][None, :, :]).transpose(2, 0, 1))
            j = np.argmin(d, axis=1)
            hit = d[np.arange(len(j)), j] <= tol_px
            votes += hit
            chosen[hit, i] = cands[i][j[hit]]
        for r in np.argsort(-votes, kind="stable")[:keep * 3]:
            key = tuple((i, int(j)) for i, j in enumerate(chosen[r]) if j >= 0)
            if key in fits:
                continue
            src = np.vstack([tag_layout, centres[[i for i, _ in key]]])
            dst = np.vstack([tag_full, pts[[j for _, j in key]]])
            Hf = fit_h(src, dst)
            if Hf is None or _check_basic(Hf, page, limits) is not None:
                continue
            e = float(np.hypot(*(apply_h(np.linalg.inv(Hf), dst) - src).T).max())
            if e <= limits.wide_mark_error:
                fits[key] = (len(key), e, Hf)
        if any(n == len(centres) and e < 0.5 * limits.wide_mark_error for n, e, _ in fits.values()):
            break
    ranked = sorted(fits.items(), key=lambda kv: (-kv[1][0], kv[1][1]))[:keep]
    return [(Hf, [MarkMatch(centres[i:i + 1].copy(), pts[j:j + 1].copy()) for i, j in key])
            for key, (_, _, Hf) in ranked]


def _apply_hs(Hs: np.ndarray, pt: np.ndarray) -> np.ndarray:
    v = Hs @ np.array([pt[0], pt[1], 1.0])
    with np.errstate(all="ignore"):
        return v[:, :2] / v[:, 2:3]


def _fit_h_batch(src: np.ndarray, fixed_dst: np.ndarray, pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """(n, 3, 3) homographies, each through the layout points ``src`` (the fixed ones, then two
    more) to ``fixed_dst`` + (pa[i], pb[i]): DLT on normalised points, all at once."""
    n = len(pa)
    dst = np.concatenate([np.broadcast_to(fixed_dst, (n,) + fixed_dst.shape), pa[:, None], pb[:, None]], axis=1)
    ts = _normaliser_of(src)
    c = dst.mean(axis=1, keepdims=True)
    sc = np.sqrt(2) / np.maximum(np.hypot(*(dst - c).transpose(2, 0, 1)).mean(axis=1), 1e-9)
    s = apply_h(ts, src)
    d = (dst - c) * sc[:, None, None]
    m = len(s)
    M = np.zeros((n, 2 * m, 9))
    M[:, 0::2, 0:2], M[:, 0::2, 2] = s, 1
    M[:, 0::2, 6:8] = -d[:, :, :1] * s
    M[:, 0::2, 8] = -d[:, :, 0]
    M[:, 1::2, 3:5], M[:, 1::2, 5] = s, 1
    M[:, 1::2, 6:8] = -d[:, :, 1:2] * s
    M[:, 1::2, 8] = -d[:, :, 1]
    _, _, vt = np.linalg.svd(M)
    Hn = vt[:, -1].reshape(n, 3, 3)
    Td_inv = np.zeros((n, 3, 3))
    Td_inv[:, 0, 0] = Td_inv[:, 1, 1] = 1 / sc
    Td_inv[:, :2, 2] = c[:, 0]
    Td_inv[:, 2, 2] = 1
    return Td_inv @ Hn @ ts


def _normaliser_of(pts: np.ndarray) -> np.ndarray:
    c = pts.mean(axis=0)
    d = np.sqrt(((pts - c) ** 2).sum(axis=1)).mean()
    s = np.sqrt(2) / d if d > 1e-12 else 1.0
    return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1.0]])


class _Dark:
    """The ink mask of the detection copy, made only when a check needs it."""

    def __init__(self, img: np.ndarray, page: PageLayout) -> None:
        self.img = img
        self.lines = _lines(page.form_type, page.page)
        self._mask: np.ndarray | None = None

    def get(self) -> np.ndarray:
        if self._mask is None:
            self._mask = dark_mask(self.img)
        return self._mask


def _model(tag_layout: np.ndarray, tag_img: np.ndarray, marks: list[MarkMatch],
           page: PageLayout | None = None) -> np.ndarray | None:
    """The best single guess: see ``_guesses``."""
    guesses = _guesses(tag_layout, tag_img, marks, page)
    return guesses[0] if guesses else None


def _guesses(tag_layout: np.ndarray, tag_img: np.ndarray, marks: list[MarkMatch],
             page: PageLayout | None = None) -> list[np.ndarray]:
    """Layout -> image maps fitted to tag corners + marks, most trusted first.

    With four marks: the homography. Before that its perspective rests on a small base (the
    tag's corners and a mark or two, or three marks): the affine fit is right for flat scans and
    faxes, the homography can be right for tilted photos or run wild, so both are offered (the
    wild one dropped: far page corners more than half a page from the affine fit's, or behind
    the camera).
    """
    src = np.vstack([tag_layout] + [m.layout_pts for m in marks])
    dst = np.vstack([tag_img] + [m.image_pts for m in marks])
    H = fit_h(src, dst)
    if len(marks) >= 4 or page is None:
        return [H] if H is not None else []
    A = fit_affine(src, dst)
    if A is None:
        return [H] if H is not None else []
    if H is None:
        return [A]
    box = np.array([(0, 0), (page.width, 0), (page.width, page.height), (0, page.height)])
    a = apply_h(A, box)
    with np.errstate(all="ignore"):
        h = apply_h(H, box)
        w = np.array([(H @ np.array([x, y, 1.0]))[2] for x, y in box])
    diag = float(np.hypot(*(a[2] - a[0])))
    if np.any(w <= 0) or not np.all(np.isfinite(h)) or float(np.abs(h - a).max()) > 0.5 * diag:
        return [A]
    return [A, H]


def _subpix(img: np.ndarray, pts: np.ndarray, win: int) -> np.ndarray:
    h, w = img.shape
    p = np.asarray(pts, np.float32).reshape(-1, 1, 2)
    if np.any(p < win + 1) or np.any(p[..., 0] > w - win - 2) or np.any(p[..., 1] > h - win - 2):
        return np.asarray(pts, np.float64).reshape(-1, 2)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 0.05)
    return cv2.cornerSubPix(img, p, (win, win), (-1, -1), crit).reshape(-1, 2).astype(np.float64)


def _drop_outliers(H: np.ndarray, tag_layout: np.ndarray, tag_img: np.ndarray, marks: list[MarkMatch],
                   max_err: float) -> tuple[np.ndarray, list[MarkMatch]]:
    """Refit without the worst mark while some mark lies farther than ``max_err`` units off."""
    while marks:
        Hi = np.linalg.inv(H)
        errs = [float(np.hypot(*(apply_h(Hi, m.image_pts) - m.layout_pts).T).max()) for m in marks]
        worst = int(np.argmax(errs))
        if errs[worst] <= max_err:
            break
        marks = marks[:worst] + marks[worst + 1:]
        H2 = _model(tag_layout, tag_img, marks)
        if H2 is None:
            break
        H = H2
    return H, marks


def _reprojection_error(H: np.ndarray, layout_pts: np.ndarray, image_pts: np.ndarray) -> float:
    back = apply_h(np.linalg.inv(H), image_pts)
    return float(np.hypot(*(back - layout_pts).T).mean())


# -- frame (tag-less pages) ---------------------------------------------------------------------


@cache
def _layouts() -> dict[FormType, FormLayout]:
    """Every packaged layout; a form type without a layout file is simply not registrable."""
    out = {}
    for ft in FormType:
        try:
            out[ft] = load_layout(ft)
        except FileNotFoundError:
            continue
    return out


@cache
def _lines(form_type: FormType, page: int) -> np.ndarray:
    return printed_lines(_layouts()[form_type].pages[page - 1])


@cache
def _tag_max_frac() -> float:
    """Largest tag side / page long side over the layouts, with room for perspective."""
    fracs = [float(np.ptp(np.asarray(p.tag.corners), axis=0).max()) / max(p.width, p.height)
             for lay in _layouts().values() for p in lay.pages if p.tag is not None]
    return 1.8 * max(fracs, default=0.05)


@cache
def _tag_index() -> dict[int, tuple[FormType, int]]:
    return {p.tag.id: (ft, p.page) for ft, lay in _layouts().items() for p in lay.pages if p.tag is not None}


@cache
def _tag_ids() -> frozenset[int]:
    return frozenset(_tag_index())


def _frame_pages(form_type: FormType) -> list[PageLayout]:
    lay = _layouts().get(form_type)
    return [p for p in lay.pages if p.tag is None and p.frame is not None and p.ruled_rows] if lay else []


def _tag_pages(form_type: FormType) -> list[PageLayout]:
    lay = _layouts().get(form_type)
    return [p for p in lay.pages if p.tag is not None] if lay else []


def _by_frame(gray: np.ndarray, small: np.ndarray, k: int, expected: FormType | None,
              limits: RegisterLimits) -> Registration | RegisterFailure | None:
    pages = _frame_pages(expected) if expected is not None else []
    if not pages:
        pages = [p for ft in FormType for p in _frame_pages(ft)]
    if not pages:
        return None
    dark = dark_mask(small)
    corners = find_frame(dark)
    if corners is None:
        return None
    hyps = frame_hypotheses(dark, corners, pages)
    if not hyps or hyps[0].score < limits.frame_min_score:
        best = f"{hyps[0].score:.2f}" if hyps else "none"
        return RegisterFailure(reason=Reason.NO_MARKS,
                               detail=f"a frame, but no known table inside (best ruled-row score {best})")
    best = hyps[0]
    if len(hyps) > 1 and best.score - hyps[1].score < limits.frame_min_margin:
        other = hyps[1]
        return RegisterFailure(reason=Reason.UNKNOWN_PAGE,
                               detail=f"frame: page {best.page.form_type.value} p{best.page.page} "
                                      f"({best.score:.2f}) and p{other.page.page} turned {other.turn * 90} "
                                      f"({other.score:.2f}) fit about as well")
    H_full = _from_level(k) @ best.H
    bad = _check_geometry(H_full, best.page, gray.shape, limits)
    if bad is not None:
        return bad
    margin = best.score - (hyps[1].score if len(hyps) > 1 else 0.0)
    score = min(1.0, best.score) * min(1.0, 0.5 + margin) * max(0.0, 1 - best.row_error / 4)
    return _registration(best.page, H_full, best.row_error, 0, "frame", score)


# -- checks and result --------------------------------------------------------------------------


def _check_geometry(H: np.ndarray, page: PageLayout, shape: tuple[int, ...],
                    limits: RegisterLimits) -> RegisterFailure | None:
    W, Ht = page.width, page.height
    probe = [(0, 0), (W, 0), (W, Ht), (0, Ht), (W / 2, Ht / 2)]
    if not np.all(np.isfinite(H)):
        return RegisterFailure(reason=Reason.TOO_SKEWED, detail="degenerate homography")
    Js = [jacobian(H, x, y) for x, y in probe]
    dets = np.array([np.linalg.det(J) for J in Js])
    w_signs = np.array([(H @ np.array([x, y, 1.0]))[2] for x, y in probe])
    if np.any(dets <= 0) or np.any(w_signs <= 0):
        return RegisterFailure(reason=Reason.TOO_SKEWED, detail="the page would be folded or mirrored")
    scales = np.sqrt(dets)
    ratio = float(scales.max() / scales.min())
    if ratio > limits.max_scale_ratio:
        return RegisterFailure(reason=Reason.TOO_SKEWED,
                               detail=f"perspective: scale varies {ratio:.2f}x over the page "
                                      f"(limit {limits.max_scale_ratio})")
    for J in Js:
        sv = np.linalg.svd(J, compute_uv=False)
        if sv[0] / sv[1] > limits.max_anisotropy:
            return RegisterFailure(reason=Reason.TOO_SKEWED,
                                   detail=f"skew/tilt: anisotropy {sv[0] / sv[1]:.2f} "
                                          f"(limit {limits.max_anisotropy})")
    ppu = float(scales[-1])
    if ppu < limits.min_px_per_unit:
        return RegisterFailure(reason=Reason.TOO_SMALL,
                               detail=f"{ppu:.3f} px per layout unit (limit {limits.min_px_per_unit})")
    boxes = [b for f in page.fields for b in f.boxes]
    if boxes:
        side = min(min(b.w, b.h) for b in boxes)
        if side * float(scales.min()) < limits.min_box_px:
            return RegisterFailure(reason=Reason.TOO_SMALL,
                                   detail=f"digit boxes of {side * float(scales.min()):.1f} px "
                                          f"(limit {limits.min_box_px})")
        pts = apply_h(H, np.array([c for b in boxes for c in b.corners()]))
        h, w = shape[:2]
        m = limits.edge_margin_px
        if pts[:, 0].min() < m or pts[:, 1].min() < m or pts[:, 0].max() > w - 1 - m or pts[:, 1].max() > h - 1 - m:
            return RegisterFailure(reason=Reason.NO_MARKS, detail="the page is cut off: digit boxes lie "
                                                                  "outside the image")
    return None


def _check_basic(H: np.ndarray, page: PageLayout, limits: RegisterLimits) -> RegisterFailure | None:
    """What no refinement repairs: a degenerate, folded or mirrored map, or a minute page."""
    W, Ht = page.width, page.height
    probe = [(0, 0), (W, 0), (W, Ht), (0, Ht), (W / 2, Ht / 2)]
    if not np.all(np.isfinite(H)):
        return RegisterFailure(reason=Reason.TOO_SKEWED, detail="degenerate homography")
    dets = np.array([np.linalg.det(jacobian(H, x, y)) for x, y in probe])
    w_signs = np.array([(H @ np.array([x, y, 1.0]))[2] for x, y in probe])
    if np.any(dets <= 0) or np.any(w_signs <= 0):
        return RegisterFailure(reason=Reason.TOO_SKEWED, detail="the page would be folded or mirrored")
    ppu = float(np.sqrt(dets[-1]))
    if ppu < limits.min_px_per_unit:
        return RegisterFailure(reason=Reason.TOO_SMALL,
                               detail=f"{ppu:.3f} px per layout unit (limit {limits.min_px_per_unit})")
    return None


def _judge(page: PageLayout, H: np.ndarray, ref: Refinement, shape: tuple[int, ...], err: float, marks: int,
           method: str, limits: RegisterLimits) -> Registration | RegisterFailure:
    """Reject only what a person could not read (boxes outside the picture, too small, too
    blurred, covered); otherwise a registration whose weakly placed boxes carry their quality."""
    boxes = [b for f in page.fields for b in f.boxes]
    tag = f"{page.form_type.value} p{page.page}"
    if boxes:
        pts = ref.map.to_image(np.array([c for b in boxes for c in b.corners()]))
        h, w = shape[:2]
        m = limits.edge_margin_px
        out = (pts[:, 0] < m) | (pts[:, 1] < m) | (pts[:, 0] > w - 1 - m) | (pts[:, 1] > h - 1 - m)
        if out.any():
            n_out = int(out.reshape(-1, 4).any(axis=1).sum())
            return RegisterFailure(reason=Reason.CUT_OFF,
                                   detail=f"{tag}: {n_out} of {len(boxes)} digit boxes lie outside the picture")
        if ref.side_px < limits.min_box_px:
            return RegisterFailure(reason=Reason.TOO_SMALL,
                                   detail=f"{tag}: digit boxes of {ref.side_px:.1f} px (limit {limits.min_box_px})")
        if ref.blur > limits.max_blur and ref.blur < 1.0:  # 1.0: no box found to measure on
            return RegisterFailure(reason=Reason.TOO_BLURRED,
                                   detail=f"{tag}: box borders spread over {ref.blur:.1%} of a box side "
                                          f"(limit {limits.max_blur:.1%})")
    q = ref.quality()
    found = [b for b in ref.boxes if b.quality >= limits.min_box_quality]
    share = len(found) / max(len(ref.boxes), 1)
    missing = [fid for fid, qs in q.items() if sum(x >= limits.min_box_quality for x in qs) < len(qs) / 2]
    if boxes and share < limits.min_found_share:
        if share < 0.25:
            return RegisterFailure(reason=Reason.TOO_SKEWED,
                                   detail=f"{tag}: {len(found)} of {len(boxes)} digit boxes found where the tag "
                                          f"and {marks} marks put them: the page cannot be located")
        return RegisterFailure(reason=Reason.OCCLUDED,
                               detail=f"{tag}: {len(found)} of {len(boxes)} digit boxes found; covered or "
                                      f"folded: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
    if method == "tag" and share >= 0.9:
        method = "tag+boxes"  # the boxes themselves place the page: not a weak registration
    mean_q = float(np.mean([b.quality for b in ref.boxes])) if ref.boxes else 1.0
    score = (0.6 + 0.4 * min(marks, len(page.marks)) / max(len(page.marks), 1)) if method != "tag" else 0.3
    score *= 0.5 + 0.5 * mean_q
    if share < limits.trusted_share:
        # Many boxes not found: those found may be misplaced too (the page was hard to follow).
        # Below the validator's min_registration_score the whole form goes to review.
        score = min(score, 0.25)
    reg = _registration(page, H, err, marks, method, score)
    reg.anchors = [[round(float(v), 3) for v in a] for a in ref.anchors]
    reg.box_quality = q
    reg.fields_found = len(q) - len(missing)
    return reg


def _rotation(H: np.ndarray, page: PageLayout) -> int:
    J = jacobian(H, page.width / 2, page.height / 2)
    ang = np.degrees(np.arctan2(J[1, 0], J[0, 0]))  # where the page's +x points, clockwise
    return int(round(ang / 90.0)) % 4 * 90


def _registration(page: PageLayout, H: np.ndarray, err: float, marks: int, method: str,
                  score: float) -> Registration:
    H = H / H[2, 2]
    return Registration(form_type=page.form_type, page=page.page, homography=H.tolist(),
                        rotation=_rotation(H, page), reprojection_error=round(float(err), 4),
                        marks_found=marks, method=method, score=float(np.clip(score, 0.0, 1.0)),
                        px_per_unit=float(np.sqrt(abs(np.linalg.det(jacobian(H, page.width / 2,
                                                                             page.height / 2))))))
