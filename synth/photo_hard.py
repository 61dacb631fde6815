"""Phone photos as officers really take them: oblique, bent, through a wide lens, badly lit.

The ``photo`` quality is a flat sheet seen near-frontally (one homography). Here the sheet is a
surface in 3-D, seen by a pinhole camera with radial lens distortion, so that *no* single
homography fits the page:

    source pixel -> sheet point (X, Y) -> bent surface (cylindrical curl, sag, fold)
      -> pose (tilt, roll, distance, offset) -> pinhole projection -> lens distortion (k1, k2)
      -> frame pixel -> quarter turn

:class:`Geometry` is that forward model, exact for any point (the truth of placement, ``boxes_px``,
comes from it). The image is made with its inverse: Newton's method on a coarse grid (one point per
8 x 8 frame pixels, placed so that a bilinear upsample lands exactly on the full grid), then ONE
``cv2.remap`` at full resolution. The source may be the rendered paper page or a *screen* showing
it (subpixel stripes, bezel, gamma): a photo of a screen is the same model with a flat sheet.

Coordinates: image positions are OpenCV pixel-centre coordinates (pixel column i has its centre at
x = i) of the final image as decoded; a layout point (x, y) lies at source position
``(x * ax + bx - 0.5, y * ay + by - 0.5)`` (see :class:`Sheet`).

:func:`photo_hard_case` makes single cases with explicit parameters, including deliberately
unreadable ones (the sheet cut off by the frame, too small, blurred, a hand over the boxes, a fold),
for registration tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from schemas.layout import PageLayout

GRID = 8  # coarse grid step of the inverse map (frame pixels)
_FAR = -20000.0  # map value for frame pixels when no frame pixel sees the sheet


# --------------------------------------------------------------------------- the forward model

@dataclass
class Sheet:
    """What the camera looks at: a source image and how layout units land on it.

    ``src_w`` x ``src_h`` source pixels; a source pixel is ``pixel_aspect`` times as tall as wide
    (3 for a screen drawn as subpixel columns). Layout point (x, y) -> continuous source position
    (x * ax + bx, y * ay + by); pixel index = that - 0.5.
    """

    src_w: int
    src_h: int
    ax: float
    ay: float
    bx: float = 0.0
    by: float = 0.0
    pixel_aspect: float = 1.0

    @property
    def aspect(self) -> float:  # physical height / width
        return self.src_h * self.pixel_aspect / self.src_w

    def to_sheet(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source pixel index -> sheet coordinates (units of the sheet width, origin at its centre)."""
        sx = 1.0 / self.src_w
        return (px + 0.5) * sx - 0.5, (py + 0.5) * sx * self.pixel_aspect - self.aspect / 2

    def from_sheet(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sx = 1.0 / self.src_w
        return (x + 0.5) / sx - 0.5, (y + self.aspect / 2) / (sx * self.pixel_aspect) - 0.5

    def layout_to_sheet(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.to_sheet(np.asarray(x) * self.ax + self.bx - 0.5, np.asarray(y) * self.ay + self.by - 0.5)


@dataclass
class Geometry:
    """Bent sheet, camera pose, pinhole and lens: sheet coordinates -> frame pixels (before the turn)."""

    frame: tuple[int, int]  # (width, height) in pixels, before the quarter turn
    aspect: float  # sheet height / width
    focal: float  # pixels
    k1: float = 0.0
    k2: float = 0.0
    tilt: float = 0.0  # degrees between the sheet's normal and the optical axis
    tilt_dir: float = 0.0  # degrees: direction in the sheet of the axis it is tilted about
    roll: float = 0.0  # degrees about the optical axis
    curl: float = 0.0  # degrees the sheet turns away at each end of the curl direction (cylinder)
    curl_dir: float = 0.0  # degrees: 0 = bends left-right (a vertical cylinder axis)
    sag: float = 0.0  # depth of a pillow bulge at the centre, in sheet widths (+: away from camera)
    fold: float = 0.0  # degrees of a crease's kink
    fold_dir: float = 0.0  # degrees: direction of the crease's normal in the sheet
    fold_at: float = 0.0  # signed distance of the crease from the centre, sheet widths
    t: tuple[float, float, float] = (0.0, 0.0, 2.0)  # sheet centre in camera coordinates

    def __post_init__(self) -> None:
        r_tilt, _ = cv2.Rodrigues(np.array([np.cos(np.radians(self.tilt_dir)), np.sin(np.radians(self.tilt_dir)),
                                            0.0]) * np.radians(self.tilt))
        r_roll, _ = cv2.Rodrigues(np.array([0.0, 0.0, np.radians(self.roll)]))
        self._r = r_roll @ r_tilt

    def surface(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sheet point -> 3-D point of the bent sheet (before the pose); z away from the camera."""
        c, s_ = np.cos(np.radians(self.curl_dir)), np.sin(np.radians(self.curl_dir))
        u = x * c + y * s_
        v = -x * s_ + y * c
        ext = 0.5 * (abs(c) + self.aspect * abs(s_))  # half-extent of the sheet along the curl direction
        kappa = np.radians(self.curl) / ext
        if abs(kappa) > 1e-9:  # a cylinder: arc length u kept (the paper does not stretch)
            u2 = np.sin(kappa * u) / kappa
            z = -(1 - np.cos(kappa * u)) / kappa  # ends come towards the camera (the sign of curl flips it)
        else:
            u2, z = u, np.zeros_like(u)
        bx = u2 * c - v * s_
        by = u2 * s_ + v * c
        if self.sag:
            bulge = np.cos(np.pi * np.clip(x, -0.5, 0.5)) * np.cos(np.pi * np.clip(y / self.aspect, -0.5, 0.5))
            z = z + self.sag * bulge
        if self.fold:
            d = x * np.cos(np.radians(self.fold_dir)) + y * np.sin(np.radians(self.fold_dir)) - self.fold_at
            z = z - np.tan(np.radians(self.fold)) * np.maximum(d, 0)
        return bx, by, z

    def project(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sheet coordinates -> frame pixel coordinates (pixel-centre convention)."""
        bx, by, bz = self.surface(np.asarray(x, np.float64), np.asarray(y, np.float64))
        r = self._r
        wx = r[0, 0] * bx + r[0, 1] * by + r[0, 2] * bz + self.t[0]
        wy = r[1, 0] * bx + r[1, 1] * by + r[1, 2] * bz + self.t[1]
        wz = r[2, 0] * bx + r[2, 1] * by + r[2, 2] * bz + self.t[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xn, yn = wx / wz, wy / wz
        r2 = xn * xn + yn * yn
        k = 1 + self.k1 * r2 + self.k2 * r2 * r2
        fw, fh = self.frame
        return self.focal * xn * k + fw / 2 - 0.5, self.focal * yn * k + fh / 2 - 0.5

    def outline(self, n: int = 24) -> np.ndarray:
        """The sheet's border in the frame, (4n, 2)."""
        t = np.linspace(0, 1, n, endpoint=False)
        a = self.aspect
        xs = np.concatenate([t - 0.5, np.full(n, 0.5), 0.5 - t, np.full(n, -0.5)])
        ys = np.concatenate([np.full(n, -a / 2), (t - 0.5) * a, np.full(n, a / 2), (0.5 - t) * a])
        px, py = self.project(xs, ys)
        return np.stack([px, py], axis=1)

    def fit(self, fill: float, pos: tuple[float, float], margin: float = 0.015) -> Geometry:
        """Place the sheet so its bounding box spans ``fill`` of the frame (the larger of the two
        ratios) at ``pos`` (0..1 of the free space on each axis); ``fill`` > 1 overflows the frame."""
        fw, fh = self.frame
        tx, ty, d = self.t
        g = self
        for _ in range(12):
            o = g.outline()
            lo, hi = o.min(axis=0), o.max(axis=0)
            cur = max((hi[0] - lo[0]) / fw, (hi[1] - lo[1]) / fh)
            d *= cur / fill
            size = (hi - lo) * fill / cur
            free = np.array([fw, fh]) * (1 - 2 * margin) - size
            want = np.array([fw, fh]) * margin + np.array(pos) * free + size / 2  # wanted bbox centre
            have = (lo + hi) / 2
            tx += (want[0] - have[0]) * d / self.focal
            ty += (want[1] - have[1]) * d / self.focal
            g = Geometry(**{**g.params(), "t": (float(tx), float(ty), float(d))})
        return g

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def inverse_grid(geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Sheet coordinates seen at one frame point per GRID x GRID pixels (NaN: no sheet there).

    The points sit at GRID*i + (GRID-1)/2, which is where ``cv2.resize(INTER_LINEAR)`` samples, so
    upsampling the grid gives the map at every pixel. Solved by Newton's method on the exact
    forward model, started from the homography of a grid of sheet points.
    """
    fw, fh = geo.frame
    gw, gh = fw // GRID, fh // GRID
    off = (GRID - 1) / 2
    gx, gy = np.meshgrid(np.arange(gw) * GRID + off, np.arange(gh) * GRID + off)
    mx = np.full((gh, gw), np.nan)
    my = np.full((gh, gw), np.nan)
    o = geo.outline()
    pad = 0.08 * max(fw, fh)
    lo, hi = o.min(axis=0) - pad, o.max(axis=0) + pad
    sel = (gx >= lo[0]) & (gx <= hi[0]) & (gy >= lo[1]) & (gy <= hi[1])
    tx, ty = gx[sel], gy[sel]
    a = geo.aspect
    sx, sy = np.meshgrid(np.linspace(-0.5, 0.5, 7), np.linspace(-a / 2, a / 2, 9))
    px, py = geo.project(sx.ravel(), sy.ravel())
    hm, _ = cv2.findHomography(np.stack([px, py], 1), np.stack([sx.ravel(), sy.ravel()], 1), 0)
    with np.errstate(all="ignore"):
        w = hm[2, 0] * tx + hm[2, 1] * ty + hm[2, 2]
        x = np.clip((hm[0, 0] * tx + hm[0, 1] * ty + hm[0, 2]) / w, -1.0, 1.0)
        y = np.clip((hm[1, 0] * tx + hm[1, 1] * ty + hm[1, 2]) / w, -a, a)
        h = 1e-5
        todo = np.arange(x.size)  # points still moving (most converge in 3-4 steps)
        for _ in range(12):
            xi, yi = x[todo], y[todo]
            fx, fy = geo.project(xi, yi)
            rx, ry = fx - tx[todo], fy - ty[todo]
            ax_, ay_ = geo.project(xi + h, yi)
            bx_, by_ = geo.project(xi, yi + h)
            j11, j21 = (ax_ - fx) / h, (ay_ - fy) / h
            j12, j22 = (bx_ - fx) / h, (by_ - fy) / h
            det = j11 * j22 - j12 * j21
            x[todo] = xi - np.clip((j22 * rx - j12 * ry) / det, -0.2, 0.2)
            y[todo] = yi - np.clip((-j21 * rx + j11 * ry) / det, -0.2, 0.2)
            todo = todo[~(np.abs(rx) + np.abs(ry) < 1e-6)]  # done: this step was already negligible
            if todo.size == 0:
                break
        fx, fy = geo.project(x, y)
        ok = (np.hypot(fx - tx, fy - ty) < 0.01) & (np.abs(x) < 0.75) & (np.abs(y) < a / 2 + 0.25)
    mx[sel] = np.where(ok, x, np.nan)
    my[sel] = np.where(ok, y, np.nan)
    return mx, my


def inverse_maps(geo: Geometry, sheet: Sheet, grid: tuple[np.ndarray, np.ndarray] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution ``cv2.remap`` maps (float32) frame pixel -> source pixel; frame pixels that
    see no sheet (or only far beyond it) get _FAR, which remap leaves as background."""
    fw, fh = geo.frame
    x, y = inverse_grid(geo) if grid is None else grid
    mx, my = sheet.from_sheet(x, y)
    valid = ~(np.isnan(mx) | np.isnan(my))
    if valid.any():
        # Frame points that see no sheet take the value of the nearest point that does (which lies
        # well beyond the sheet's edge): a constant far value there would, once interpolated
        # towards, sweep through the page and draw thin lines of it into the background.
        _, lab = cv2.distanceTransformWithLabels((~valid).astype(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
        near = np.flatnonzero(valid)[lab.ravel() - 1]
        mx, my = mx.ravel()[near].reshape(mx.shape), my.ravel()[near].reshape(my.shape)
    else:
        mx[:], my[:] = _FAR, _FAR
    mapx = cv2.resize(mx.astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
    mapy = cv2.resize(my.astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
    return mapx, mapy


def turn_points(x: np.ndarray, y: np.ndarray, frame: tuple[int, int], rotation: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame pixel coordinates -> coordinates after turning the image ``rotation`` degrees clockwise."""
    fw, fh = frame
    r = rotation % 360
    if r == 90:
        return fh - 1 - y, x
    if r == 180:
        return fw - 1 - x, fh - 1 - y
    if r == 270:
        return y, fw - 1 - x
    return x, y


def boxes_px(layout: PageLayout, project: Any) -> dict[str, list[list[float]]]:
    """``[cx, cy, side]`` of every digit box, by ``project(xs, ys) -> (px, py)`` of layout points.

    The side is the mean length of the box's four projected edges.
    """
    out: dict[str, list[list[float]]] = {}
    for f in layout.fields:
        rows = []
        for b in f.boxes:
            xs = np.array([b.cx, b.x, b.x + b.w, b.x + b.w, b.x])
            ys = np.array([b.cy, b.y, b.y, b.y + b.h, b.y + b.h])
            px, py = project(xs, ys)
            c = np.stack([px[1:], py[1:]], 1)
            side = float(np.mean(np.linalg.norm(c - np.roll(c, -1, axis=0), axis=1)))
            rows.append([round(float(px[0]), 2), round(float(py[0]), 2), round(side, 2)])
        out[f.id] = rows
    return out


# --------------------------------------------------------------------------- what the camera sees

@dataclass
class ScreenSpec:
    """A monitor or tablet showing the page: display pixels, where the page sits, bezel, response."""

    display: tuple[int, int]  # (width, height) in display pixels
    offset: tuple[int, int]  # page's top-left in display pixels
    bezel: int  # display pixels of black frame on each side
    gamma: float
    ui: int  # grey of the viewer around the page
    tint: tuple[float, float, float]


def sheet_for(page_shape: tuple[int, ...], ppu: float, screen: ScreenSpec | None) -> Sheet:
    h, w = page_shape[:2]
    if screen is None:
        return Sheet(src_w=w, src_h=h, ax=ppu, ay=ppu)
    wd, hd = screen.display
    b = screen.bezel
    return Sheet(src_w=3 * (wd + 2 * b), src_h=hd + 2 * b, ax=3 * ppu, ay=ppu,
                 bx=3 * (screen.offset[0] + b), by=screen.offset[1] + b, pixel_aspect=3.0)


def screen_source(page: np.ndarray, screen: ScreenSpec) -> np.ndarray:
    """The screen as the camera's source: the page on the display, every display pixel three
    subpixel columns (R, G, B), a black bezel around. Its pixels are 3x taller than wide."""
    wd, hd = screen.display
    disp = np.full((hd, wd, 3), screen.ui, np.uint8)
    ph, pw = page.shape[:2]
    ox, oy = screen.offset
    disp[oy: oy + ph, ox: ox + pw] = page if page.ndim == 3 else page[..., None]
    lut = np.clip(255 * (np.arange(256) / 255.0) ** screen.gamma, 0, 255)
    disp = np.stack([cv2.LUT(disp[..., c], np.clip(lut * screen.tint[c], 0, 255).astype(np.uint8))
                     for c in range(3)], axis=-1)
    b = screen.bezel
    src = np.full((hd + 2 * b, 3 * (wd + 2 * b), 3), 14, np.uint8)
    sub = np.repeat(disp, 3, axis=1).astype(np.float32) * 0.3  # light leaking into the neighbours
    for c in range(3):
        sub[:, c::3, c] = disp[..., c]
    src[b: b + hd, 3 * b: 3 * (b + wd)] = np.clip(sub * 1.25, 0, 255).astype(np.uint8)
    return src


# --------------------------------------------------------------------------- drawing the parameters

def _frame(rng: np.random.Generator) -> tuple[int, int]:
    from synth.degrade import FRAMES

    return FRAMES[int(rng.integers(len(FRAMES)))]


def draw_params(rng: np.random.Generator) -> dict[str, Any]:
    """A readable hard photo's parameters (everything but the sheet's size)."""
    barrel = rng.random() < 0.8
    p: dict[str, Any] = {
        "frame": _frame(rng),
        "fov": float(rng.uniform(68, 84)),  # diagonal field of view of a phone's main / wide camera
        "k1": float(rng.uniform(-0.22, -0.03) if barrel else rng.uniform(0.02, 0.08)),
        "tilt": float(rng.uniform(25, 50) if rng.random() < 0.8 else rng.uniform(5, 25)),
        "tilt_dir": float(rng.uniform(0, 360)),
        "roll": float(np.clip(rng.normal(0, 6), -15, 15)),
        "curl": float(rng.choice([-1, 1]) * rng.uniform(8, 35)) if rng.random() < 0.7 else 0.0,
        "curl_dir": float((0.0 if rng.random() < 0.6 else 90.0) + rng.normal(0, 8)),
        "sag": float(rng.choice([-1, 1]) * rng.uniform(0.01, 0.05)) if rng.random() < 0.4 else 0.0,
        "fill": float(rng.uniform(0.45, 0.98) if rng.random() < 0.85 else rng.uniform(0.3, 0.45)),
        "pos": (float(rng.uniform(0, 1)), float(rng.uniform(0, 1))),
        "rotation": int(rng.choice([0, 90, 180, 270], p=[0.55, 0.15, 0.15, 0.15])),
        "screen": bool(rng.random() < 0.12),
        "shadow": float(rng.uniform(0.25, 0.55)) if rng.random() < 0.6 else 0.0,
        "glare": float(rng.uniform(0.3, 0.7)) if rng.random() < 0.35 else 0.0,
    }
    if p["fill"] < 0.45:  # a small sheet seen steeply would not be readable
        p["tilt"] = min(p["tilt"], 35.0)
    return p


def _screen_rules(p: dict[str, Any], fixed: set[str]) -> None:
    """A screen is flat and self-lit (no cast shadow on it; it reflects the room instead)."""
    for k, v in (("curl", 0.0), ("sag", 0.0), ("fold", 0.0), ("shadow", 0.0)):
        if k not in fixed:
            p[k] = v
    if "tilt" not in fixed:
        p["tilt"] = min(p["tilt"], 40.0)


def geometry(p: dict[str, Any], aspect: float) -> Geometry:
    fw, fh = p["frame"]
    focal = float(np.hypot(fw, fh) / 2 / np.tan(np.radians(p["fov"]) / 2))
    g = Geometry(frame=(fw, fh), aspect=aspect, focal=focal, k1=p["k1"], k2=p.get("k2", 0.0), tilt=p["tilt"],
                 tilt_dir=p["tilt_dir"], roll=p["roll"], curl=p["curl"], curl_dir=p["curl_dir"], sag=p["sag"],
                 fold=p.get("fold", 0.0), fold_dir=p.get("fold_dir", 0.0), fold_at=p.get("fold_at", 0.0))
    g = g.fit(p["fill"], p["pos"])
    cut = p.get("cut", 0.0)
    if cut:  # push the sheet out through one side of the frame by ``cut`` of its extent
        o = g.outline()
        size = o.max(axis=0) - o.min(axis=0)
        dx, dy = {"left": (-1, 0), "right": (1, 0), "top": (0, -1), "bottom": (0, 1)}[p.get("cut_side", "right")]
        shift = _edge_gap(o, g.frame, dx, dy) + cut * (size[0] if dx else size[1])
        tx, ty, d = g.t
        g = Geometry(**{**g.params(), "t": (tx + dx * shift * d / g.focal, ty + dy * shift * d / g.focal, d)})
    return g


def _edge_gap(o: np.ndarray, frame: tuple[int, int], dx: int, dy: int) -> float:
    """Pixels between the sheet's outline and the frame edge it is pushed towards."""
    fw, fh = frame
    if dx > 0:
        return float(fw - o[:, 0].max())
    if dx < 0:
        return float(o[:, 0].min())
    if dy > 0:
        return float(fh - o[:, 1].max())
    return float(o[:, 1].min())


def local_scales(g: Geometry) -> tuple[float, float]:
    """Smallest and largest local scale over the sheet: frame pixels per sheet width, along the
    worst and the best direction (singular values of the projection's Jacobian)."""
    a = g.aspect
    x, y = (v.ravel() for v in np.meshgrid(np.linspace(-0.48, 0.48, 6), np.linspace(-a / 2 * 0.96, a / 2 * 0.96, 8)))
    h = 1e-4
    fx, fy = g.project(x, y)
    ax_, ay_ = g.project(x + h, y)
    bx_, by_ = g.project(x, y + h)
    jac = np.stack([np.stack([(ax_ - fx) / h, (bx_ - fx) / h], -1), np.stack([(ay_ - fy) / h, (by_ - fy) / h], -1)], -2)
    sv = np.linalg.svd(jac, compute_uv=False)
    return float(sv.min()), float(sv.max())


def obliquity(g: Geometry) -> float:
    """The worst foreshortening over the sheet: min over its points of (shortest / longest local
    scale), about the cosine of the angle the surface is seen at (bent ends add to the tilt)."""
    a = g.aspect
    x, y = (v.ravel() for v in np.meshgrid(np.linspace(-0.5, 0.5, 9), np.linspace(-a / 2, a / 2, 13)))
    h = 1e-4
    fx, fy = g.project(x, y)
    ax_, ay_ = g.project(x + h, y)
    bx_, by_ = g.project(x, y + h)
    jac = np.stack([np.stack([(ax_ - fx) / h, (bx_ - fx) / h], -1), np.stack([(ay_ - fy) / h, (by_ - fy) / h], -1)], -2)
    sv = np.linalg.svd(jac, compute_uv=False)
    return float((sv[:, 1] / sv[:, 0]).min())


# --------------------------------------------------------------------------- plan and apply

MIN_BOX_PX = 16.0  # a readable page: every digit box at least this many pixels, along its shortest side
MIN_OBLIQUITY = 0.33  # ... and no part of the sheet seen more obliquely than ~70 degrees
MAX_SOURCE_PX = 16e6  # the rendered page is at most this big (time and memory)
DISPLAYS = [(1536, 2048), (1600, 2560), (1440, 2560), (1200, 1920)]  # portrait tablets and monitors


def _screen_spec(rng: np.random.Generator, page_width: float, page_height: float) -> tuple[ScreenSpec, float]:
    wd, hd = DISPLAYS[int(rng.integers(len(DISPLAYS)))]
    ppu = min(0.97 * wd / page_width, 0.93 * hd / page_height)
    pw, ph = int(round(page_width * ppu)), int(round(page_height * ppu))
    top = int(rng.integers(0, max(1, (hd - ph) // 2 + 1)))  # the viewer's toolbar pushes the page down
    spec = ScreenSpec(display=(wd, hd), offset=((wd - pw) // 2, (hd - ph) // 2 + top // 2),
                      bezel=int(round(wd * rng.uniform(0.02, 0.05))), gamma=float(rng.uniform(0.75, 1.3)),
                      ui=int(rng.choice([32, 64, 235])), tint=tuple(float(x) for x in rng.uniform(0.88, 1.0, 3)))
    return spec, ppu


def plan_photo_hard(rng: np.random.Generator, page_width: float, page_height: float, box_frac: float = 0.03,
                    **overrides: Any) -> Any:
    """Plan one hard photo (a ``synth.degrade.Plan``). ``box_frac``: the page's smallest digit box
    side over the page width, to keep every box readable (>= MIN_BOX_PX). ``overrides`` fix any of
    :func:`draw_params`' parameters (and ``cut``, ``fold``, ... of :func:`photo_hard_case`)."""
    from synth.degrade import Plan

    p = {**draw_params(rng), **overrides}
    if any(int(v) % GRID for v in p["frame"]):  # the coarse map is upsampled exactly GRID times
        raise ValueError(f"frame {p['frame']}: width and height must be multiples of {GRID}")
    spec, ppu = (None, 0.0)
    if p["screen"]:
        _screen_rules(p, set(overrides))
        spec, ppu = _screen_spec(rng, page_width, page_height)
        sheet = sheet_for((int(round(page_height * ppu)), int(round(page_width * ppu))), ppu, spec)
        aspect, page_frac = sheet.aspect, 3 * page_width * ppu / sheet.src_w
    else:
        aspect, page_frac = page_height / page_width, 1.0
    fixed = set(overrides)
    for _ in range(60):
        g = geometry(p, aspect)
        lo, hi = local_scales(g)
        if obliquity(g) < MIN_OBLIQUITY:  # a bent end seen edge-on (or folding over itself): unreadable
            if abs(p["curl"]) > 4 and "curl" not in fixed:
                p["curl"] *= 0.8
                continue
            if p["tilt"] > 3 and "tilt" not in fixed:
                p["tilt"] -= 3
                continue
        elif lo * page_frac * box_frac >= MIN_BOX_PX:
            break
        if p["fill"] < 0.97 and "fill" not in fixed:  # a person would step closer...
            p["fill"] = min(0.98, p["fill"] * 1.08)
        elif p["tilt"] > 3 and "tilt" not in fixed:  # ...or hold the phone straighter
            p["tilt"] -= 3
        else:
            break  # fixed by the caller: a deliberately hard (maybe unreadable) case
    if spec is None:  # render fine enough for the nearest part of the sheet, within a budget
        cap = np.sqrt(MAX_SOURCE_PX / (page_width * page_height))
        ppu = max(0.2, min(cap, round(hi / page_width * 20) / 20))
    dpi = float(lo * page_frac / 8.27)  # A4-equivalent dpi of the sheet where it is seen worst
    params = {**p, "geometry": g.params(), "screen_spec": spec.__dict__ if spec else None,
              "background": int(rng.integers(4)),
              "light": float(rng.uniform(0.55, 0.95)),
              "cast": [float(x) for x in rng.uniform(0.88, 1.06, 3)],
              "blur": float(rng.uniform(0.5, 1.2)),
              "noise": float(rng.uniform(2.0, 6.0)),
              "jpeg": int(rng.integers(75, 93))}
    return Plan("photo-hard", float(ppu), dpi, True, params)  # type: ignore[arg-type]


def _sheet_and_geometry(plan: Any, page_shape: tuple[int, ...]) -> tuple[Sheet, Geometry, ScreenSpec | None]:
    p = plan.params
    spec = ScreenSpec(**p["screen_spec"]) if p.get("screen_spec") else None
    if spec is not None:
        spec = ScreenSpec(display=tuple(spec.display), offset=tuple(spec.offset), bezel=spec.bezel,  # type: ignore
                          gamma=spec.gamma, ui=spec.ui, tint=tuple(spec.tint))  # type: ignore[arg-type]
    gp = dict(p["geometry"])
    gp["frame"], gp["t"] = tuple(gp["frame"]), tuple(gp["t"])
    return sheet_for(page_shape, plan.ppu, spec), Geometry(**gp), spec


def projector(plan: Any, page_shape: tuple[int, ...]) -> Any:
    """``f(xs, ys) -> (px, py)``: layout points -> pixel positions in the final (turned) image."""
    sheet, g, _ = _sheet_and_geometry(plan, page_shape)
    rotation = int(plan.params.get("rotation", 0))

    def f(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = sheet.layout_to_sheet(np.asarray(xs, np.float64), np.asarray(ys, np.float64))
        px, py = g.project(x, y)
        return turn_points(px, py, g.frame, rotation)

    return f


def _occluder(img: np.ndarray, kind: str, at: tuple[float, float], rng: np.random.Generator) -> None:
    """Something between the camera and the sheet, over ``at`` (frame pixels)."""
    fw = img.shape[1]
    cx, cy = at
    ang = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(ang), np.sin(ang)])
    n = np.array([-d[1], d[0]])
    if kind == "hand":  # palm beside the point, fingers over it
        skin = tuple(float(v) for v in rng.choice([[224, 172, 138], [198, 134, 96], [141, 85, 54]]))
        s = fw * rng.uniform(0.09, 0.13)
        palm = np.array([cx, cy]) - d * s * 0.8  # the palm itself covers the point
        cv2.ellipse(img, (int(palm[0]), int(palm[1])), (int(s), int(s * 0.85)), float(np.degrees(ang)), 0, 360,
                    skin, -1, cv2.LINE_AA)
        for k in range(4):
            base = palm + n * s * (k - 1.5) * 0.5 + d * s * 0.6
            tip = base + d * s * rng.uniform(1.2, 1.7)
            cv2.line(img, (int(base[0]), int(base[1])), (int(tip[0]), int(tip[1])), skin, int(s * 0.4), cv2.LINE_AA)
        return
    if kind == "pen":
        length, width = fw * rng.uniform(0.3, 0.4), fw * rng.uniform(0.012, 0.018)
        a, b = np.array([cx, cy]) - d * length * 0.4, np.array([cx, cy]) + d * length * 0.6
        col = tuple(float(v) for v in rng.choice([[25, 45, 150], [20, 20, 25], [230, 230, 235]]))
        cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), col, int(width), cv2.LINE_AA)
        return
    # a phone lying on the sheet
    w, h = fw * rng.uniform(0.14, 0.18), fw * rng.uniform(0.28, 0.34)
    pts = cv2.boxPoints(((cx + rng.uniform(-0.2, 0.2) * w, cy + rng.uniform(-0.2, 0.2) * h), (w, h),
                         float(np.degrees(ang)))).astype(np.int32)
    cv2.fillConvexPoly(img, pts, (22, 22, 26), cv2.LINE_AA)


def apply_photo_hard(page: np.ndarray, plan: Any, rng: np.random.Generator) -> Any:
    """The photo (a ``synth.degrade.Degraded``, before the quarter turn)."""
    from synth.degrade import Degraded, _add_noise_u8, _background

    p = plan.params
    if page.ndim == 2:
        page = cv2.cvtColor(page, cv2.COLOR_GRAY2RGB)
    sheet, g, spec = _sheet_and_geometry(plan, page.shape)
    src = screen_source(page, spec) if spec is not None else page
    fw, fh = g.frame
    grid = inverse_grid(g)
    mapx, mapy = inverse_maps(g, sheet, grid)
    bg = _background(rng, fw, fh, p["background"])
    if spec is not None:
        bg *= 0.45  # a room lit by the screen
    img = cv2.resize(np.clip(bg, 0, 255).astype(np.uint8), (fw, fh), interpolation=cv2.INTER_LINEAR)
    cv2.remap(src, mapx, mapy, cv2.INTER_LINEAR, dst=img, borderMode=cv2.BORDER_TRANSPARENT)
    del mapx, mapy
    if p.get("occluder"):
        _occluder(img, p["occluder"], tuple(p["occlude_at"]), rng)

    # Light on a coarse grid: gradient, vignetting, a cast shadow with a hard-ish edge, the two
    # faces of a fold, glare; upsampled once.
    sw, sh = fw // GRID, fh // GRID
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    grad = np.cos(ang) * (xx / sw - 0.5) + np.sin(ang) * (yy / sh - 0.5)
    light = 1.0 - (1.0 - p["light"]) * (grad + 0.5) * (0.4 if spec is not None else 1.0)
    light *= 1.0 - 0.25 * ((xx / sw - 0.5) ** 2 + (yy / sh - 0.5) ** 2) * 2
    if spec is not None:  # the camera exposes for the bright screen (its subpixels light a third each)
        light *= 1.65
    if p.get("shadow"):  # a person or the phone between the lamp and the sheet
        c = np.array([rng.uniform(0.2, 0.8) * sw, rng.uniform(0.2, 0.8) * sh])
        r = rng.uniform(0.25, 0.6) * max(sw, sh)
        poly = np.array([c + r * rng.uniform(0.5, 1.2) * np.array([np.cos(t), np.sin(t)])
                         for t in np.sort(rng.uniform(0, 2 * np.pi, 7))], np.int32)
        sm = np.zeros_like(light)
        cv2.fillPoly(sm, [cv2.convexHull(poly)], 1.0, cv2.LINE_AA)
        sm = cv2.GaussianBlur(sm, (0, 0), rng.uniform(0.6, 2.0))  # hard-ish: 5-16 frame pixels of penumbra
        light *= 1.0 - p["shadow"] * sm
    if p.get("fold"):  # the crease: one face turned from the light, a thin highlight/shadow on the ridge
        x0, y0 = np.nan_to_num(grid[0], nan=9.0), np.nan_to_num(grid[1], nan=9.0)
        d = x0 * np.cos(np.radians(g.fold_dir)) + y0 * np.sin(np.radians(g.fold_dir)) - g.fold_at
        on = (np.abs(x0) < 0.5) & (np.abs(y0) < g.aspect / 2)
        face = np.where(on & (d > 0), 1 - 0.15 * np.sign(g.fold) * rng.uniform(0.5, 1.0), 1.0)
        ridge = np.where(on, np.exp(-(d / 0.004) ** 2), 0.0)
        light *= (face * (1 - 0.3 * ridge)).astype(np.float32)
    # In 8 bits (light * 128, so up to ~2x): the full-resolution float image would cost more than the warp.
    light3 = np.stack([light * c for c in p["cast"]], axis=-1) * 128
    light3 = cv2.resize(np.clip(light3, 0, 255).astype(np.uint8), (fw, fh), interpolation=cv2.INTER_LINEAR)
    out = cv2.multiply(img, light3, scale=1 / 128)
    del light3, img
    if p.get("glare"):  # a specular spot (a lamp, a window on a screen): adds light, washes out
        gx, gy = rng.uniform(0.2, 0.8) * fw, rng.uniform(0.2, 0.8) * fh
        s = rng.uniform(0.03, 0.07) * fw * (2.5 if spec is not None else 1.0)
        gs = np.exp(-(((xx * GRID - gx) ** 2 + ((yy * GRID - gy) / rng.uniform(0.6, 1.0)) ** 2) / (2 * s * s)))
        gs = cv2.resize(np.clip(p["glare"] * 255 * gs, 0, 255).astype(np.uint8), (fw, fh),
                        interpolation=cv2.INTER_LINEAR)
        out = cv2.add(out, cv2.merge([gs, gs, gs]))
        del gs
    out = cv2.GaussianBlur(out, (0, 0), p["blur"])
    if p.get("motion"):  # the hand moved: a line kernel
        n = max(3, int(round(p["motion"])) | 1)
        k = np.zeros((n, n), np.float32)
        a = np.radians(p.get("motion_dir", 0.0))
        c = (n - 1) / 2
        cv2.line(k, (int(round(c - np.cos(a) * c)), int(round(c - np.sin(a) * c))),
                 (int(round(c + np.cos(a) * c)), int(round(c + np.sin(a) * c))), 1.0, 1, cv2.LINE_AA)
        out = cv2.filter2D(out, -1, k / k.sum())
    if p.get("defocus"):  # out of focus: a disc
        r = max(1, int(round(p["defocus"])))
        k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
        cv2.circle(k, (r, r), r, 1.0, -1, cv2.LINE_AA)
        out = cv2.filter2D(out, -1, k / k.sum())
    out = _add_noise_u8(out, rng, p["noise"])
    return Degraded(out, "RGB", p["jpeg"])


def conditions(plan: Any, boxes: dict[str, list[list[float]]]) -> dict[str, float | str]:
    """The page's main photo parameters, for breaking results down."""
    p = plan.params
    sides = [b[2] for rows in boxes.values() for b in rows]
    c: dict[str, float | str] = {
        "tilt": round(float(p["geometry"]["tilt"]), 1), "curl": round(float(p["curl"]), 1),
        "sag": round(float(p["sag"]), 3), "k1": round(float(p["k1"]), 3), "fov": round(float(p["fov"]), 1),
        "fill": round(float(p["fill"]), 3), "rotation": float(p["rotation"]),
        "screen": "yes" if p.get("screen_spec") else "no",
        "shadow": round(float(p.get("shadow") or 0), 2), "glare": round(float(p.get("glare") or 0), 2),
        "min_box_px": round(min(sides), 1) if sides else 0.0,
    }
    for k in ("cut", "fold", "motion", "defocus"):
        if p.get(k):
            c[k] = round(float(p[k]), 3)
    if p.get("cut"):
        c["cut_side"] = str(p.get("cut_side", "right"))
    if p.get("occluder"):
        c["occluder"] = str(p["occluder"])
    return c


# --------------------------------------------------------------------------- single cases (fixtures)

@dataclass
class HardCase:
    """One photo made by :func:`photo_hard_case`."""

    degraded: Any  # synth.degrade.Degraded, already turned by ``rotation``
    boxes_px: dict[str, list[list[float]]]  # field id -> [cx, cy, side] per digit box, final image pixels
    conditions: dict[str, float | str]
    plan: Any  # synth.degrade.Plan
    project: Any = field(repr=False)  # f(xs, ys) layout units -> (px, py) in the final image

    @property
    def image(self) -> np.ndarray:
        return self.degraded.image

    def write(self, path: Any) -> None:
        """Encode as the phone would (JPEG at the plan's quality), e.g. to feed ``pindai run``."""
        from pathlib import Path

        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(self.image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, int(self.degraded.jpeg_quality or 90)])
        if not ok:
            raise ValueError("JPEG encoding failed")
        Path(path).write_bytes(buf.tobytes())


def _rescale(page: np.ndarray, r: float) -> np.ndarray:
    """``page`` scaled by exactly ``r`` in continuous coordinates (x' = r x), size rounded."""
    h, w = page.shape[:2]
    src = cv2.GaussianBlur(page, (0, 0), 0.45 / r) if r < 1 else page
    m = np.float32([[r, 0, 0.5 * r - 0.5], [0, r, 0.5 * r - 0.5]])
    return cv2.warpAffine(src, m, (int(round(w * r)), int(round(h * r))), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def photo_hard_case(page: np.ndarray, layout: PageLayout, rng: np.random.Generator, *, ppu: float | None = None,
                    occlude_field: str | None = None, **params: Any) -> HardCase:
    """One hard phone photo of ``page`` (a filled page rendered at ``ppu`` px per layout unit, gray or RGB)
    with explicit parameters; anything not given is drawn from ``rng`` as :func:`draw_params` does.

    Parameters (all optional): ``tilt``, ``tilt_dir``, ``roll`` (degrees); ``curl`` (degrees at the
    sheet's ends, sign = direction), ``curl_dir`` (0: bends left-right), ``sag`` (sheet widths);
    ``k1`` (< 0 barrel, > 0 pincushion), ``k2``, ``fov`` (diagonal degrees); ``fill`` (0-1: the
    sheet's bounding box over the frame; below ~0.3 the boxes get too small), ``pos`` ((0-1, 0-1));
    ``rotation`` (0/90/180/270, clockwise); ``frame`` ((w, h), portrait); ``screen`` (bool: a photo
    of a screen showing the page); ``shadow`` (0-0.6 depth), ``glare`` (0-0.8); ``blur`` (Gaussian
    sigma px), ``noise``, ``jpeg``. Deliberately unreadable: ``cut`` (share of the sheet pushed out
    of the frame through ``cut_side`` left/right/top/bottom), ``motion`` (px of motion blur,
    ``motion_dir`` degrees), ``defocus`` (disc radius px), ``occluder`` ("hand" | "pen" | "phone",
    over the first box of ``occlude_field``, default the page's first field), ``fold`` (degrees of a
    crease, ``fold_dir``, ``fold_at``).
    """
    lw, lh = layout.width, layout.height
    ppu = float(ppu if ppu is not None else page.shape[1] / lw)
    sides = [min(b.w, b.h) for f in layout.fields for b in f.boxes]
    box_frac = min(sides) / lw if sides else 0.03
    late = {k: params.pop(k) for k in ("blur", "noise", "jpeg", "background", "light", "cast") if k in params}
    plan = plan_photo_hard(rng, lw, lh, box_frac=box_frac, **params)
    plan.params.update(late)
    if plan.params.get("screen_spec"):
        page = _rescale(page, plan.ppu / ppu)
    else:
        plan.ppu = ppu
    if plan.params.get("occluder"):
        sheet, g, _ = _sheet_and_geometry(plan, page.shape)
        fid = occlude_field or layout.fields[0].id
        b = next(f for f in layout.fields if f.id == fid).boxes[0]
        plan.params["occlude_at"] = [float(v) for v in g.project(*sheet.layout_to_sheet(b.cx, b.cy))]
    deg = apply_photo_hard(page, plan, rng)
    from synth.degrade import rotate

    deg = rotate(deg, int(plan.params["rotation"]))
    proj = projector(plan, page.shape)
    bx = boxes_px(layout, proj)
    return HardCase(deg, bx, conditions(plan, bx), plan, proj)


def filled_page(form_type: str, page_no: int, seed: int = 0, ppu: float = 1.5, colour: bool = True,
                handwriting: bool = False) -> tuple[np.ndarray, PageLayout, dict[str, list[str]]]:
    """A look-alike page with random numbers written in its boxes: ``(image, layout page, what each
    box holds)``, for fixtures. The procedural hand (no data files needed), or with
    ``handwriting`` real digits from ../shared/handwriting when it is there."""
    from schemas.layout import load_layout
    from synth.digit_sources import default_handwriting_dir
    from synth.fill import box_contents, fill_page
    from synth.handwriting import make_writer
    from synth.render import render_page

    rng = np.random.default_rng(np.random.SeedSequence([seed, 77, page_no]))
    layout = load_layout(form_type).pages[page_no - 1]
    writer = make_writer(rng, default_handwriting_dir() if handwriting else None)
    boxes = {f.id: box_contents(int(rng.integers(0, 10 ** len(f.boxes))), len(f.boxes), writer.lead)
             for f in layout.fields}
    img = render_page(layout, ppu, {"provinsi": "JAWA BARAT", "kabkota": "KOTA BANDUNG", "kecamatan": "CIBEUNYING",
                                    "desa": "CIGADUNG", "tps_number": "004"})
    if colour:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    fill_page(img, layout, ppu, boxes, {}, writer, rng)
    return img, layout, boxes
