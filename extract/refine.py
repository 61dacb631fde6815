"""Find every digit box where it really is: local search around where the page map predicts it.

A homography from the tag and the corner marks is right for a flat sheet; a curled sheet seen
through a wide lens bends the printed grid by many pixels. Every digit box is a printed square
with a thick border, amid table rules (and bubble columns on the plano page 2): each box's
neighbourhood, drawn from the layout, is matched (normalised cross-correlation) against the image
resampled around the prediction, first coarse (the box ~16 px, search radius under half the box
pitch, so a neighbouring box can never be taken), then fine (the box ~36 px, a few pixels around
the coarse hit, sub-pixel peak). Boxes nearest the anchors already known go first, and the page
map (``extract.geometry.PageMap``) is refitted through what was found after each round, so the
prediction for the far boxes improves before they are searched.

Each box gets a quality 0..1 (peak correlation, and how clearly it beats the runner-up): a box
covered by a hand or a pen is not found (low quality) instead of being placed on something else.
Speed: every patch is small (one ``warpPerspective`` from the pyramid level nearest its scale), so
a 12 MP photo costs what its boxes cost, never a full-page filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from extract.geometry import PageMap, apply_h
from schemas.layout import PageLayout, Rect

COARSE_SIDE = 16.0  # rectified px per box side, coarse search
FINE_SIDE = 36.0  # rectified px per box side, fine search
PAD = 0.35  # context drawn around a box, share of its side
MIN_QUALITY = 0.5  # a box below this is not an anchor (and is "weakly placed")


@dataclass
class BoxFind:
    field_id: str
    index: int  # box index in its field
    rect: Rect
    image_xy: np.ndarray | None = None  # found centre (full-resolution px)
    quality: float = 0.0
    offset_px: float = 0.0  # distance from the prediction it was found at (full-res px)


@dataclass
class Refinement:
    boxes: list[BoxFind]
    anchors: np.ndarray  # N x 4 (layout x, y, image x, image y), fixed anchors included
    map: PageMap
    blur: float = 0.0  # edge spread of the printed box borders, share of the box side (median)
    side_px: float = 0.0  # median box side in full-resolution pixels
    rounds: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def quality(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for b in self.boxes:
            out.setdefault(b.field_id, []).append(round(float(b.quality), 3))
        return out


def _to_level(k: int) -> np.ndarray:
    o = (k - 1) / 2
    return np.array([[1 / k, 0, -o / k], [0, 1 / k, -o / k], [0, 0, 1.0]])


_TEMPLATES: dict[tuple[int, str, int, float, float], tuple[np.ndarray, float, float]] = {}


def _template(page: PageLayout, fid: str, i: int, box: Rect, s: float,
              pad_share: float = PAD) -> tuple[np.ndarray, float, float]:
    """The printed neighbourhood of a box (rules, bubble rings; ink = 1) at ``s`` px per unit, and
    its layout origin. Drawn 4x larger, then area-averaged (anti-aliased, thin rules kept faint)."""
    key = (id(page), fid, i, round(s, 5), pad_share)
    hit = _TEMPLATES.get(key)
    if hit is not None:
        return hit
    pad = pad_share * max(box.w, box.h)
    x0, y0, x1, y1 = box.x - pad, box.y - pad, box.x + box.w + pad, box.y + box.h + pad
    up = 4
    W, Hh = int(round((x1 - x0) * s)), int(round((y1 - y0) * s))
    canvas = np.zeros((Hh * up, W * up), np.uint8)
    S = s * up
    shift = 4
    f = float(1 << shift)

    def P(x: float, y: float) -> tuple[int, int]:
        return int(round((x - x0) * S * f)), int(round((y - y0) * S * f))

    for ln in page.lines:
        if ln.dotted or ln.gray >= 128:
            continue
        if max(ln.x0, ln.x1) < x0 or min(ln.x0, ln.x1) > x1 or max(ln.y0, ln.y1) < y0 or min(ln.y0, ln.y1) > y1:
            continue
        cv2.line(canvas, P(ln.x0, ln.y0), P(ln.x1, ln.y1), 255, max(1, int(round(ln.t * S))), cv2.LINE_AA, shift)
    for fl in page.fields:
        for col in fl.bubbles or []:
            for c in col:
                if c.cx + c.r < x0 or c.cx - c.r > x1 or c.cy + c.r < y0 or c.cy - c.r > y1:
                    continue
                cv2.circle(canvas, P(c.cx, c.cy), int(round(c.r * S * f)), 255,
                           max(1, int(round(max(0.9, c.r * 0.1) * S))), cv2.LINE_AA, shift)
    tpl = cv2.resize(canvas, (W, Hh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    tpl = cv2.GaussianBlur(tpl, (0, 0), 0.6)
    if len(_TEMPLATES) > 20000:
        _TEMPLATES.clear()
    _TEMPLATES[key] = (tpl, x0, y0)
    return tpl, x0, y0


def _patch(levels: list[tuple[np.ndarray, int]], pmap: PageMap, x0: float, y0: float, w_px: int, h_px: int,
           s: float, scale_full: float) -> np.ndarray:
    """Ink (255 - gray) of layout area from (x0, y0), ``s`` px per unit, from the coarsest level
    still at least as fine as ``s``."""
    k = 1
    for _img, kk in levels:
        if scale_full / kk >= 0.9 * s and kk > k:
            k = kk
    img = next(im for im, kk in levels if kk == k)
    Hloc = pmap.local_h(x0, y0, x0 + w_px / s, y0 + h_px / s)
    # Patch pixel u is centred on layout x0 + (u + 0.5) / s, as the template's pixels are.
    T = np.array([[1 / s, 0, x0 + 0.5 / s], [0, 1 / s, y0 + 0.5 / s], [0, 0, 1.0]])
    M = _to_level(k) @ Hloc @ T
    out = cv2.warpPerspective(img, M, (w_px, h_px), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    return 255.0 - out.astype(np.float32)


def _peak(res: np.ndarray) -> tuple[float, float, float]:
    """(x, y, value) of the correlation maximum, sub-pixel (parabola through its neighbours)."""
    _, v, _, (px, py) = cv2.minMaxLoc(res)
    dx = dy = 0.0
    if 0 < px < res.shape[1] - 1:
        a, b, c = res[py, px - 1], res[py, px], res[py, px + 1]
        den = a - 2 * b + c
        dx = 0.5 * (a - c) / den if den < 0 else 0.0
    if 0 < py < res.shape[0] - 1:
        a, b, c = res[py - 1, px], res[py, px], res[py + 1, px]
        den = a - 2 * b + c
        dy = 0.5 * (a - c) / den if den < 0 else 0.0
    return px + float(np.clip(dx, -0.5, 0.5)), py + float(np.clip(dy, -0.5, 0.5)), float(v)


def _match(levels: list[tuple[np.ndarray, int]], pmap: PageMap, page: PageLayout, b: BoxFind, side: float,
           radius_u: float, scale_full: float, pad_share: float = PAD,
           unit: float | None = None) -> tuple[np.ndarray, float, float, np.ndarray]:
    """Search box ``b`` within ``radius_u`` layout units; (offset in layout units, peak, runner-up, patch).
    ``side``: rectified pixels per ``unit`` layout units (default the box's own side)."""
    s = side / (unit or max(b.rect.w, b.rect.h))
    tpl, tx0, ty0 = _template(page, b.field_id, b.index, b.rect, s, pad_share)
    R = max(2, int(np.ceil(radius_u * s)))
    h, w = tpl.shape
    patch = _patch(levels, pmap, tx0 - R / s, ty0 - R / s, w + 2 * R, h + 2 * R, s, scale_full)
    if float(patch.std()) < 1.0:
        return np.zeros(2), 0.0, 0.0, patch
    res = cv2.matchTemplate(patch, tpl, cv2.TM_CCOEFF_NORMED)
    res = np.nan_to_num(res, nan=0.0)
    px, py, v = _peak(res)
    # Runner-up: the best correlation away from the peak (a shifted alignment of the same rules).
    ex = max(2, int(round(0.25 * side)))
    masked = res.copy()
    ipx, ipy = int(round(px)), int(round(py))
    masked[max(0, ipy - ex): ipy + ex + 1, max(0, ipx - ex): ipx + ex + 1] = -1.0
    v2 = float(masked.max()) if masked.size else -1.0
    return np.array([(px - R) / s, (py - R) / s]), v, v2, patch


def _quality(v: float, v2: float) -> float:
    """Peak correlation and its lead over the runner-up -> 0..1 (calibrated on photo-hard pages:
    a found box correlates 0.6-0.95; a hand over the box or a box matched to the wrong rules < 0.4)."""
    q = float(np.clip((v - 0.3) / 0.35, 0.0, 1.0))
    lead = float(np.clip((v - max(v2, 0.0)) / 0.12, 0.0, 1.0))
    return min(q, max(lead, 0.0) if v2 > 0.3 else 1.0)


def _edge_spread(patch: np.ndarray, side: float) -> float:
    """How spread a box border's edges are (Gaussian sigma estimate, share of the box side): the
    steepest ink gradient against the ink contrast. A sharp border: ~0.02; unreadable: > 0.07."""
    g = cv2.GaussianBlur(patch, (0, 0), 0.7)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    mag = np.sqrt(gx * gx + gy * gy)
    contrast = float(np.percentile(patch, 98) - np.percentile(patch, 30))
    if contrast < 8:
        return 1.0
    steep = float(np.percentile(mag, 99.5))
    sigma_px = contrast / max(steep * 2.5066, 1e-6)
    return sigma_px / side


def _spread_sample(centres: np.ndarray, n: int) -> list[int]:
    """``n`` indices of ``centres`` spread over the page (farthest-point sample, topmost first)."""
    chosen = [int(np.argmin(centres[:, 1]))]
    d = np.hypot(*(centres - centres[chosen[0]]).T)
    while len(chosen) < min(n, len(centres)):
        j = int(np.argmax(d))
        chosen.append(j)
        d = np.minimum(d, np.hypot(*(centres - centres[j]).T))
    return chosen


def refine_boxes(levels: list[tuple[np.ndarray, int]], page: PageLayout, H: np.ndarray,
                 fixed: np.ndarray, min_quality: float = MIN_QUALITY, flat: bool = False) -> Refinement:
    """Place every digit box of ``page``. ``levels``: [(image, k)] the pyramid (k = 1 full
    resolution); ``H``: layout -> full-resolution px; ``fixed``: N x 4 anchors already known
    (tag corners, mark cells) that stay in the map. ``flat``: the tag and all marks fit one
    homography closely (a scan, a fax, a flat photo): a few boxes spread over the page are checked
    where it puts them, and only if one is off is every box searched."""
    boxes = [BoxFind(f.id, i, b) for f in page.fields for i, b in enumerate(f.boxes)]
    fixed = np.asarray(fixed, np.float64).reshape(-1, 4)
    pmap = PageMap(H, fixed)
    if not boxes:
        return Refinement(boxes, fixed, pmap)
    centres = np.array([[b.rect.cx, b.rect.cy] for b in boxes])
    sides_u = np.array([max(b.rect.w, b.rect.h) for b in boxes])
    if flat:
        done = _check_flat(levels, page, boxes, centres, sides_u, H, fixed, min_quality)
        if done is not None:
            return done
    # Half the distance to the nearest other box, in layout units: the search never reaches a neighbour.
    d = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    gap = np.minimum(d.min(axis=1), 4 * sides_u) if len(boxes) > 1 else 2 * sides_u
    known = fixed[:, :2] if len(fixed) else centres[:1]
    dist = np.hypot(*(centres[:, None, :] - known[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    order = list(np.argsort(dist, kind="stable"))
    pmap = _regions(levels, page, H, fixed, pmap)
    n = len(order)
    cuts = sorted({min(n, c) for c in (max(4, n // 8), max(8, n // 3), n)})
    anchors = [fixed]
    blur: list[float] = []
    start, rounds = 0, 0
    for end in cuts:
        idx = order[start:end]
        start = end
        if not idx:
            continue
        rounds += 1
        scale = pmap.scale_at(centres[idx])
        # The map as each box's neighbourhood sees it, all at once (one spline evaluation).
        reach = (PAD + 0.5) * sides_u[idx] + 0.45 * gap[idx]
        rects = np.c_[centres[idx] - reach[:, None], 2 * reach, 2 * reach]
        local = pmap.rect_homographies(rects)
        new = []
        for j, sc, Hj in zip(idx, scale, local, strict=True):
            b = boxes[j]
            near = PageMap(Hj)
            off, vc, v2, _ = _match(levels, near, page, b, COARSE_SIDE, 0.45 * gap[j], float(sc))
            off2, v, _, patch = _match(levels, _Shifted(near, off), page, b, FINE_SIDE,
                                       3.0 * sides_u[j] / COARSE_SIDE, float(sc))
            c = np.array([b.rect.cx, b.rect.cy])
            # the fine peak says how well it fits; the coarse runner-up whether it is unambiguous
            b.quality = min(_quality(v, -1.0), _quality(vc, v2))
            b.image_xy = apply_h(Hj, (c + off + off2)[None])[0]
            b.offset_px = float(np.hypot(*(b.image_xy - apply_h(Hj, c[None])[0])))
            if b.quality >= min_quality:
                new.append([b.rect.cx, b.rect.cy, *b.image_xy])
                if len(blur) < 12:
                    blur.append(_edge_spread(patch, FINE_SIDE))
        if new:
            anchors.append(np.asarray(new))
            pmap = PageMap(H, np.vstack(anchors))
    all_anchors = np.vstack(anchors)
    wrong = _misplaced_fields(levels, page, pmap, boxes, gap)
    if wrong:
        # A whole field locked onto its neighbour (the prediction was off by a box pitch): its
        # boxes are not where the map says. They are weakly placed, and out of the map.
        for b in boxes:
            if b.field_id in wrong:
                b.quality = min(b.quality, 0.2)
        keep = [fixed] + [np.array([[b.rect.cx, b.rect.cy, *b.image_xy]]) for b in boxes
                          if b.quality >= min_quality and b.image_xy is not None]
        all_anchors = np.vstack(keep)
        pmap = PageMap(H, all_anchors)
    side_px = float(np.median(pmap.scale_at(centres) * sides_u))
    return Refinement(boxes, all_anchors, pmap, float(np.median(blur)) if blur else 1.0, side_px, rounds)


def _misplaced_fields(levels: list[tuple[np.ndarray, int]], page: PageLayout, pmap: PageMap,
                      boxes: list[BoxFind], gap: np.ndarray) -> set[str]:
    """Fields whose surroundings (rules, neighbouring fields) fit the image better a box pitch or
    more away from where the final map puts them: boxes found one by one can all lock onto their
    neighbours when the first guess was off by a pitch; the wider picture cannot."""
    out = set()
    by_field: dict[str, list[int]] = {}
    for i, b in enumerate(boxes):
        by_field.setdefault(b.field_id, []).append(i)
    for f in page.fields:
        idx = by_field.get(f.id)
        if not idx or not f.boxes:
            continue
        rect = _field_rect(f)
        sc = float(pmap.scale_at(np.array([[rect.cx, rect.cy]]))[0])
        if not np.isfinite(sc) or sc <= 0:
            continue
        near = PageMap(pmap.local_h(rect.x - 3 * rect.h, rect.y - 3 * rect.h, rect.x + rect.w + 3 * rect.h,
                                    rect.y + rect.h + 3 * rect.h))
        off, q = _region_match(levels, near, page, f, rect, sc)
        if q >= 0.3 and float(np.hypot(*off)) > 0.5 * float(np.min(gap[idx])):
            out.add(f.id)
    return out


FLAT_SAMPLE = 4  # boxes checked on a page the homography fits (the four farthest apart)


def _check_flat(levels: list[tuple[np.ndarray, int]], page: PageLayout, boxes: list[BoxFind],
                centres: np.ndarray, sides_u: np.ndarray, H: np.ndarray, fixed: np.ndarray,
                min_quality: float) -> Refinement | None:
    """A few boxes, fine search only, close around where the homography puts them: if every one
    is found there, the homography is the map and the other boxes inherit the weakest quality of
    the sample; None when any is off or weak (then every box is searched)."""
    pmap = PageMap(H)
    sample = _spread_sample(centres, FLAT_SAMPLE)
    scale = pmap.scale_at(centres[sample])
    found, qs, blur = [], [], []
    for j, sc in zip(sample, scale, strict=True):
        b = boxes[j]
        off, v, _, patch = _match(levels, pmap, page, b, FINE_SIDE, 0.12 * sides_u[j], float(sc))
        q = _quality(v, -1.0)
        if q < max(min_quality, 0.6) or float(np.hypot(*off)) > 0.08 * sides_u[j]:
            return None
        c = centres[j] + off
        found.append([centres[j][0], centres[j][1], *apply_h(H, c[None])[0]])
        qs.append(q)
        if len(blur) < 2:  # the border sharpness of a flat page: two boxes tell it
            blur.append(_edge_spread(patch, FINE_SIDE))
    for j, b in enumerate(boxes):
        b.quality = qs[sample.index(j)] if j in sample else min(qs)
        b.image_xy = apply_h(H, centres[j][None])[0]
    # The homography is the map: no anchors (measured on 60 scan pages, a spline through the
    # sampled boxes moved the median box by 0.1 px for nothing; the crops stay exactly as before).
    side_px = float(np.median(pmap.scale_at(centres) * sides_u))
    return Refinement(boxes, np.zeros((0, 4)), pmap, float(np.median(blur)), side_px, 0)


REGION_PAD = 1.5  # context around a field for the region pass, in box sides


def _regions(levels: list[tuple[np.ndarray, int]], page: PageLayout, H: np.ndarray, fixed: np.ndarray,
             pmap: PageMap) -> PageMap:
    """The region pass: each field with its surroundings (rules, neighbouring fields: far more
    distinctive than one box among identical ones) is searched within a whole box pitch, nearest
    the known anchors first, and the map refitted through what was found. Its anchors only guide
    the box search (which needs the prediction within half a pitch); the final map is made of
    boxes. Skipped when the homography already fits (the first fields found where predicted)."""
    fields = [f for f in page.fields if f.boxes]
    if len(fields) < 2:
        return pmap
    rects = []
    for f in fields:
        x0 = min(b.x for b in f.boxes)
        y0 = min(b.y for b in f.boxes)
        x1 = max(b.x + b.w for b in f.boxes)
        y1 = max(b.y + b.h for b in f.boxes)
        rects.append(Rect(x=x0, y=y0, w=x1 - x0, h=y1 - y0))
    side_u = np.array([max(max(b.w, b.h) for b in f.boxes) for f in fields])
    centres = np.array([[r.cx, r.cy] for r in rects])
    known = fixed[:, :2] if len(fixed) else centres[:1]
    dist = np.hypot(*(centres[:, None, :] - known[None, :, :]).transpose(2, 0, 1)).min(axis=1)
    order = list(np.argsort(dist, kind="stable"))
    anchors = [fixed]
    n = len(order)
    cuts = sorted({min(n, c) for c in (max(2, n // 6), max(4, n // 2), n)})
    start = 0
    for end in cuts:
        idx = order[start:end]
        start = end
        scale = pmap.scale_at(centres[idx])
        new = []
        for j, sc in zip(idx, scale, strict=True):
            f = fields[j]
            b = BoxFind(f"{f.id}#region", -1, rects[j])
            unit = float(side_u[j])
            off, v, v2, _ = _match(levels, pmap, page, b, 10.0, 1.1 * unit * 1.2, float(sc),
                                   pad_share=REGION_PAD * unit / max(rects[j].w, rects[j].h), unit=unit)
            q = _quality(v, v2)
            if q >= 0.5:
                c = centres[j] + off
                new.append([centres[j][0], centres[j][1], *pmap.to_image(c[None])[0]])
        if new:
            anchors.append(np.asarray(new))
            pmap = PageMap(H, np.vstack(anchors), smooth=1e-3)
        if end == cuts[0] and new and len(new) == len(idx):
            d = np.hypot(*(np.asarray(new)[:, 2:] - PageMap(H, fixed).to_image(np.asarray(new)[:, :2])).T)
            if float(d.max()) < 0.15 * float(np.median(scale * side_u[idx])):
                return pmap  # the homography fits: the box pass alone is enough
    return pmap


class _Shifted(PageMap):
    """``pmap`` looked at from layout points moved by ``off`` (the coarse hit): the fine search
    window is centred on it without refitting the spline."""

    def __init__(self, pmap: PageMap, off: np.ndarray) -> None:  # noqa: D107 - no super(): a view
        self._base = pmap
        self._off = np.asarray(off, np.float64)
        self.H = pmap.H

    def to_image(self, pts: np.ndarray) -> np.ndarray:
        return self._base.to_image(np.asarray(pts, np.float64).reshape(-1, 2) + self._off)

    def local_h(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        H = self._base.local_h(x0 + self._off[0], y0 + self._off[1], x1 + self._off[0], y1 + self._off[1])
        T = np.array([[1, 0, self._off[0]], [0, 1, self._off[1]], [0, 0, 1.0]])
        return H @ T


def probe(levels: list[tuple[np.ndarray, int]], page: PageLayout, H: np.ndarray, n: int = 8) -> float:
    """How well a candidate homography lays the printed boxes on the image: the mean coarse match
    quality of ``n`` boxes spread over the page (farthest-point sample). A wrong set of marks
    scores ~0, the right one 0.6-1, for a few milliseconds."""
    boxes = [BoxFind(f.id, i, b) for f in page.fields for i, b in enumerate(f.boxes)]
    if not boxes:
        return 0.0
    centres = np.array([[b.rect.cx, b.rect.cy] for b in boxes])
    chosen = [int(np.argmin(centres[:, 1]))]
    d = np.hypot(*(centres - centres[chosen[0]]).T)
    while len(chosen) < min(n, len(boxes)):
        j = int(np.argmax(d))
        chosen.append(j)
        d = np.minimum(d, np.hypot(*(centres - centres[j]).T))
    pmap = PageMap(H)
    scale = pmap.scale_at(centres[chosen])
    qs = []
    for j, sc in zip(chosen, scale, strict=True):
        b = boxes[j]
        if not np.isfinite(sc) or sc <= 0:
            qs.append(0.0)
            continue
        _, v, v2, _ = _match(levels, pmap, page, b, COARSE_SIDE, 0.45 * max(b.rect.w, b.rect.h), float(sc))
        qs.append(_quality(v, v2))
    return float(np.mean(qs))


def _field_rect(f: object) -> Rect:
    """The bounding rect of a field's boxes (layout units)."""
    boxes = f.boxes  # type: ignore[attr-defined]
    x0 = min(b.x for b in boxes)
    y0 = min(b.y for b in boxes)
    x1 = max(b.x + b.w for b in boxes)
    y1 = max(b.y + b.h for b in boxes)
    return Rect(x=x0, y=y0, w=x1 - x0, h=y1 - y0)


def _region_match(levels: list[tuple[np.ndarray, int]], pmap: PageMap, page: PageLayout, f: object, rect: Rect,
                  scale: float, radius_sides: float = 1.3) -> tuple[np.ndarray, float]:
    """A field and its surroundings searched within ``radius_sides`` box sides: (offset in layout
    units, quality)."""
    unit = float(max(max(b.w, b.h) for b in f.boxes))  # type: ignore[attr-defined]
    b = BoxFind(f"{f.id}#region", -1, rect)  # type: ignore[attr-defined]
    off, v, v2, _ = _match(levels, pmap, page, b, 10.0, radius_sides * unit, scale,
                           pad_share=REGION_PAD * unit / max(rect.w, rect.h), unit=unit)
    return off, _quality(v, v2)
