"""How a filled page reaches pindai: flatbed scan, phone photo or fax.

Scale. The plano forms are about 1701 x 2551 pt (60 x 90 cm); the Salinan is A4 (595 pt wide).
Archives hold photocopies/scans of both at office resolutions, so a "200 dpi scan" here means
an *A4-equivalent* 200 dpi page: the plano is treated as photocopied down to A4 width (8.27 in)
before scanning. :func:`a4_px_per_unit` turns a dpi into layout-units-to-pixels for any page
width, so a 200 dpi scan is ~1654 px wide whatever the form. Photos are sized in megapixels of
the camera instead; their TruthPage.dpi is the A4-equivalent dpi of the sheet in the frame.

``photo-hard`` (synth/photo_hard.py) is the phone photo as officers really take it: oblique, bent,
through a wide lens, any quarter turn, sometimes of a screen.

Each quality has a *plan* (drawn first, because it fixes the resolution to render at) and an
*apply* step (geometry, optics, noise, encoding). Everything is driven by the caller's RNG.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

A4_WIDTH_IN = 8.27
Projector = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Quality = Literal["scan", "photo", "fax", "photo-hard"]


def a4_px_per_unit(page_width_units: float, dpi: float) -> float:
    """Pixels per layout unit for an A4-equivalent ``dpi`` rendering of a page ``page_width_units`` wide.

    The page is scaled to A4 width (8.27 in) and sampled at ``dpi``: its pixel width is
    ``dpi * 8.27`` whatever its size, so ``px_per_unit = dpi * 8.27 / page_width_units``
    (for the A4 Salinan, 595 pt wide, that is the plain ``dpi / 72``).
    """
    return dpi * A4_WIDTH_IN / page_width_units


@dataclass
class Plan:
    quality: Quality
    ppu: float  # pixels per layout unit to render the page at
    dpi: float  # A4-equivalent dpi of the sheet in the final image
    colour: bool  # fill and render in RGB
    params: dict


@dataclass
class Degraded:
    image: np.ndarray  # uint8, (H, W) or (H, W, 3) RGB; for mode "1": 0/255
    mode: Literal["L", "RGB", "1"]
    jpeg_quality: int | None  # None: lossless (PNG / CCITT in PDF)


# --------------------------------------------------------------------------- noise helpers

def _add_noise_u8(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """``img`` (uint8) plus Gaussian noise, saturated; the noise tile is wrapped, not drawn in full."""
    t = 509
    tile = np.clip(rng.standard_normal((t, t) + img.shape[2:], dtype=np.float32) * np.float32(sigma) + 128,
                   0, 255).astype(np.uint8)
    oy, ox = (int(x) for x in rng.integers(0, t, 2))
    tile = np.roll(tile, (oy, ox), axis=(0, 1))
    h, w = img.shape[:2]
    big = cv2.copyMakeBorder(tile, 0, max(0, h - t), 0, max(0, w - t), cv2.BORDER_WRAP)[:h, :w]
    return cv2.addWeighted(img, 1.0, big, 1.0, -128.0)


def _lowfreq(rng: np.random.Generator, h: int, w: int, cells: int, lo: float, hi: float) -> np.ndarray:
    small = rng.uniform(lo, hi, (cells, cells)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


# --------------------------------------------------------------------------- scan

def form_settings(quality: Quality, rng: np.random.Generator) -> dict:
    """Settings shared by every page of one form (one scanner, one setting)."""
    if quality == "scan":
        return {"dpi": float(rng.choice([150, 200, 240, 300], p=[0.25, 0.5, 0.13, 0.12])),
                "binary": bool(rng.random() < 0.2), "jpeg": int(rng.integers(55, 93)),
                "border": float(rng.choice([255.0, 235.0, 45.0], p=[0.6, 0.3, 0.1]))}
    return {}


def plan_scan(rng: np.random.Generator, page_width: float, form: dict) -> Plan:
    dpi = form["dpi"]
    return Plan("scan", a4_px_per_unit(page_width, dpi), dpi, False, {
        "angle": float(np.clip(rng.normal(0, 1.2), -3, 3)),
        "shift": (float(rng.normal(0, 0.006)), float(rng.normal(0, 0.006))),
        "blur": float(rng.uniform(0.3, 1.0)),
        "noise": float(rng.uniform(1.0, 5.0)),
        "paper": float(rng.uniform(0.9, 1.0)),
        "gamma": float(rng.uniform(0.8, 1.25)),
        "border": form["border"],
        "binary": form["binary"],
        "jpeg": form["jpeg"],
    })


def apply_scan(page: np.ndarray, plan: Plan, rng: np.random.Generator) -> Degraded:
    """Flatbed/sheet-fed scan of a uint8 page rendered at the scan resolution."""
    p = plan.params
    h, w = page.shape[:2]
    lut = np.clip(255.0 * ((np.arange(256) * p["paper"]) / 255.0) ** p["gamma"], 0, 255).astype(np.uint8)
    img = cv2.LUT(page, lut)
    dx, dy = int(round(p["shift"][0] * w)), int(round(p["shift"][1] * h))
    if abs(p["angle"]) < 0.15:  # a straight feed: only shifted (and the warp is the costliest step)
        img = cv2.copyMakeBorder(img, max(dy, 0), max(-dy, 0), max(dx, 0), max(-dx, 0), cv2.BORDER_CONSTANT,
                                 value=p["border"])[max(-dy, 0): max(-dy, 0) + h, max(-dx, 0): max(-dx, 0) + w]
    else:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), p["angle"], 1.0)
        m[:, 2] += (dx, dy)
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=p["border"])
    img = cv2.GaussianBlur(img, (0, 0), p["blur"])
    out = _add_noise_u8(img, rng, p["noise"])
    if p["binary"]:
        _, out = cv2.threshold(out, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        return Degraded(out, "1", None)
    return Degraded(out, "L", p["jpeg"])


# --------------------------------------------------------------------------- fax

def plan_fax(rng: np.random.Generator, page_width: float) -> Plan:
    # Rendered at 200 dpi, transmitted at 100 dpi: the thresholding happens after the downsample.
    return Plan("fax", a4_px_per_unit(page_width, 200), 100.0, False, {
        "angle": float(np.clip(rng.normal(0, 0.8), -2, 2)),
        "threshold": float(rng.uniform(135, 185)),
        "noise": float(rng.uniform(8, 22)),
        "speckle": float(rng.uniform(0.0002, 0.0015)),
        "streaks": int(rng.integers(0, 4)),
        "header": bool(rng.random() < 0.7),
    })


def apply_fax(page: np.ndarray, plan: Plan, rng: np.random.Generator) -> Degraded:
    p = plan.params
    h, w = page.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), p["angle"], 1.0)
    img = cv2.warpAffine(page, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    img = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    img = _add_noise_u8(img, rng, p["noise"])
    out = np.where(img < p["threshold"], 0, 255).astype(np.uint8)
    hh, ww = out.shape
    n = int(p["speckle"] * hh * ww)
    ys, xs = rng.integers(0, hh, n), rng.integers(0, ww, n)
    out[ys, xs] = 255 - out[ys, xs]
    for _ in range(p["streaks"]):  # transmission errors: a line of garbage across the page
        y = int(rng.integers(0, hh))
        out[y: y + int(rng.integers(1, 3)), :] = np.where(rng.random(ww) < 0.5, 0, 255).astype(np.uint8)
    if p["header"]:
        out[: 18, :] = 255
        day, hour, minute = int(rng.integers(10, 29)), int(rng.integers(7, 23)), int(rng.integers(0, 60))
        text = f"FAX  {day:02d}/02/2024 {hour:02d}:{minute:02d}   KPU   P.00{int(rng.integers(1, 9))}"
        cv2.putText(out, text, (12, 14),
                    cv2.FONT_HERSHEY_PLAIN, 0.9, 0, 1, cv2.LINE_8)
    return Degraded(out, "1", None)


# --------------------------------------------------------------------------- photo

FRAMES = [(2448, 3264), (2592, 3456), (2736, 3648), (3000, 4000)]  # portrait, 8-12 MP


def _pose_quad(rng: np.random.Generator, aspect: float, tilt_deg: float, roll_deg: float) -> np.ndarray:
    """Projected corners (TL, TR, BR, BL) of a sheet seen at ``tilt_deg`` from the camera axis."""
    w, h = 1.0, aspect
    pts = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    direction = rng.uniform(0, 2 * np.pi)
    axis = np.array([np.cos(direction), np.sin(direction), 0.0])
    rvec = axis * np.radians(tilt_deg)
    r_tilt, _ = cv2.Rodrigues(rvec)
    r_roll, _ = cv2.Rodrigues(np.array([0, 0, np.radians(roll_deg)]))
    world = pts @ (r_roll @ r_tilt).T
    dist = 1.6 * h  # phone held a little more than a sheet-height away
    z = world[:, 2] + dist
    return np.stack([world[:, 0] / z, world[:, 1] / z], axis=1)


def plan_photo(rng: np.random.Generator, page_width: float, page_height: float) -> Plan:
    fw, fh = FRAMES[int(rng.integers(len(FRAMES)))]
    tilt = float(min(25.0, abs(rng.normal(0, 11))))
    roll = float(rng.normal(0, 3))
    quad = _pose_quad(rng, page_height / page_width, tilt, roll)
    # Fit the sheet in the frame: it fills 70-93% of the frame, never leaves it (2% margin).
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    fill = rng.uniform(0.70, 0.93)
    scale = min(fw * fill / (hi[0] - lo[0]), fh * fill / (hi[1] - lo[1]))
    size = (hi - lo) * scale
    margin = 0.02 * np.array([fw, fh])
    free = np.array([fw, fh]) - size - 2 * margin
    origin = margin + rng.uniform(0, 1, 2) * np.maximum(free, 0)
    dst = (quad - lo) * scale + origin
    edge = max(np.linalg.norm(dst[1] - dst[0]), np.linalg.norm(dst[2] - dst[3]))
    # Render at a quantised scale (the warp maps the whole page onto the quad anyway), so the
    # renderer's per-scale cache of the blank page is hit.
    ppu = round(float(edge / page_width) * 20) / 20
    dpi = float(edge / A4_WIDTH_IN)
    return Plan("photo", ppu, dpi, True, {
        "frame": (fw, fh),
        "dst": dst.astype(np.float32).tolist(),
        "tilt": tilt,
        "background": int(rng.integers(4)),
        "light": float(rng.uniform(0.55, 0.95)),
        "cast": [float(x) for x in rng.uniform(0.9, 1.05, 3)],
        "shadow": bool(rng.random() < 0.45),
        "glare": bool(rng.random() < 0.2),
        "blur": float(rng.uniform(0.4, 1.4)),
        "noise": float(rng.uniform(2.0, 6.0)),
        "jpeg": int(rng.integers(78, 95)),
    })


BACKGROUNDS = [  # RGB base colours: wooden table, grey floor tiles, white wall, green cloth
    (140, 100, 65), (150, 150, 145), (215, 212, 205), (60, 95, 70),
]


def _background(rng: np.random.Generator, fw: int, fh: int, kind: int) -> np.ndarray:
    """The scene around the sheet (uint8 RGB). Drawn at a quarter of the frame size and scaled up:
    it is out of focus anyway, and the frame is 8-12 MP."""
    q = 4
    w, h = fw // q, fh // q
    base = np.array(BACKGROUNDS[kind], np.float32) * rng.uniform(0.8, 1.1, 3).astype(np.float32)
    bg = np.empty((h, w, 3), np.float32)
    bg[:] = base
    bg *= _lowfreq(rng, h, w, 5, 0.8, 1.15)[..., None]
    if kind == 0:  # wood grain: stretched noise
        grain = cv2.resize(rng.uniform(0.85, 1.12, (h // 10, 6)).astype(np.float32), (w, h),
                           interpolation=cv2.INTER_LINEAR)
        bg *= grain[..., None]
    if kind == 1:  # tile joints
        step = int(rng.integers(75, 175))
        joint = tuple(float(c) * 0.75 for c in base)
        for x in range(int(rng.integers(step)), w, step):
            cv2.line(bg, (x, 0), (x + int(rng.integers(-8, 8)), h), joint, 2)
        for y in range(int(rng.integers(step)), h, step):
            cv2.line(bg, (0, y), (w, y + int(rng.integers(-8, 8))), joint, 2)
    # Clutter: other papers, pens, a phone, bags...
    for _ in range(int(rng.integers(3, 9))):
        kind_c = rng.random()
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind_c < 0.45:
            pw, ph = int(rng.integers(w // 8, w // 2)), int(rng.integers(h // 10, h // 3))
            box = ((cx, cy), (pw, ph), float(rng.uniform(0, 180)))
            pts = cv2.boxPoints(box).astype(np.int32)
            cv2.fillPoly(bg, [pts], tuple(float(x) for x in rng.uniform(200, 250, 3)), cv2.LINE_AA)
            inner = cv2.boxPoints(((cx, cy), (pw * 0.8, ph * 0.8), box[2]))
            for _ in range(int(rng.integers(3, 10))):  # print on the other paper
                t0, t1 = sorted(rng.uniform(0, 1, 2))
                u = rng.uniform(0, 1)
                a0 = inner[0] + (inner[3] - inner[0]) * u
                a1 = inner[1] + (inner[2] - inner[1]) * u
                p0, p1 = a0 + (a1 - a0) * t0, a0 + (a1 - a0) * t1
                cv2.line(bg, tuple(int(v) for v in p0), tuple(int(v) for v in p1), (90, 90, 95), 1, cv2.LINE_AA)
        elif kind_c < 0.7:
            ang = rng.uniform(0, np.pi)
            ln = rng.integers(50, 150)
            p2 = (int(cx + np.cos(ang) * ln), int(cy + np.sin(ang) * ln))
            col = tuple(float(x) for x in rng.choice([[20, 40, 140], [20, 20, 25], [200, 30, 30], [240, 240, 240]]))
            cv2.line(bg, (cx, cy), p2, col, int(rng.integers(3, 8)), cv2.LINE_AA)
        else:
            axes = (int(rng.integers(20, 125)), int(rng.integers(20, 100)))
            col = tuple(float(x) for x in rng.uniform(10, 200, 3))
            cv2.ellipse(bg, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
    return bg


def apply_photo(page: np.ndarray, plan: Plan, rng: np.random.Generator) -> Degraded:
    """A phone photo of the sheet lying on a table: perspective, clutter, uneven light, shadow."""
    p = plan.params
    fw, fh = p["frame"]
    if page.ndim == 2:
        page = cv2.cvtColor(page, cv2.COLOR_GRAY2RGB)
    h, w = page.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = np.array(p["dst"], np.float32)
    bg = _background(rng, fw, fh, p["background"])
    # A soft drop shadow of the sheet on the table (at the background's scale).
    q = fw / bg.shape[1]
    sh = np.zeros(bg.shape[:2], np.float32)
    off = rng.uniform(1, 4, 2)
    cv2.fillConvexPoly(sh, np.round((dst / q + off) * 16).astype(np.int32), 1.0, cv2.LINE_AA, shift=4)
    bg *= (1 - 0.35 * cv2.GaussianBlur(sh, (0, 0), 3))[..., None]
    img = cv2.resize(np.clip(bg, 0, 255).astype(np.uint8), (fw, fh), interpolation=cv2.INTER_LINEAR)
    hmat = cv2.getPerspectiveTransform(src, dst)
    cv2.warpPerspective(page, hmat, (fw, fh), dst=img, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT)

    # Uneven light: a broad gradient and vignetting, computed small and upscaled.
    sw, shh = fw // 16, fh // 16
    yy, xx = np.mgrid[0:shh, 0:sw].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    grad = (np.cos(ang) * (xx / sw - 0.5) + np.sin(ang) * (yy / shh - 0.5))
    light = 1.0 - (1.0 - p["light"]) * (grad + 0.5)
    r2 = ((xx / sw - 0.5) ** 2 + (yy / shh - 0.5) ** 2) * 2
    light *= 1.0 - 0.25 * r2
    if p["shadow"]:  # a person or phone between the lamp and the sheet
        poly = np.array([[rng.uniform(-0.2, 1.2) * sw, rng.uniform(-0.2, 1.2) * shh] for _ in range(5)], np.int32)
        sm = np.zeros_like(light)
        cv2.fillPoly(sm, [cv2.convexHull(poly)], 1.0)
        sm = cv2.GaussianBlur(sm, (0, 0), rng.uniform(2, 6))
        light *= 1.0 - rng.uniform(0.25, 0.5) * sm
    if p["glare"]:
        gx, gy = rng.uniform(0.2, 0.8) * sw, rng.uniform(0.2, 0.8) * shh
        g = np.exp(-(((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * (rng.uniform(3, 8)) ** 2)))
        light += 0.35 * g
    light3 = np.stack([light * c for c in p["cast"]], axis=-1).astype(np.float32)
    light3 = cv2.resize(light3, (fw, fh), interpolation=cv2.INTER_LINEAR)
    f = img.astype(np.float32)
    cv2.multiply(f, light3, dst=f)
    out = np.clip(f, 0, 255).astype(np.uint8)
    del f, light3
    out = cv2.GaussianBlur(out, (0, 0), p["blur"])
    out = _add_noise_u8(out, rng, p["noise"])
    return Degraded(out, "RGB", p["jpeg"])


# --------------------------------------------------------------------------- dispatch

def plan(quality: Quality, rng: np.random.Generator, page_width: float, page_height: float,
         form: dict | None = None, box_frac: float = 0.03) -> Plan:
    """Plan one page; ``form`` is :func:`form_settings` of its form (drawn here when omitted);
    ``box_frac``: the page's smallest digit box over its width (photo-hard keeps it readable)."""
    if quality == "photo-hard":
        from synth.photo_hard import plan_photo_hard

        return plan_photo_hard(rng, page_width, page_height, box_frac=box_frac)
    if quality == "scan":
        return plan_scan(rng, page_width, form or form_settings("scan", rng))
    if quality == "fax":
        return plan_fax(rng, page_width)
    return plan_photo(rng, page_width, page_height)


def apply(page: np.ndarray, p: Plan, rng: np.random.Generator) -> Degraded:
    """The page as it reaches pindai (photo-hard: before its quarter turn, ``p.params["rotation"]``)."""
    if p.quality == "photo-hard":
        from synth.photo_hard import apply_photo_hard

        return apply_photo_hard(page, p, rng)
    return {"scan": apply_scan, "fax": apply_fax, "photo": apply_photo}[p.quality](page, p, rng)


def projector(p: Plan, page_shape: tuple[int, ...], rotation: int = 0) -> Projector:
    """``f(xs, ys) -> (px, py)``: layout points -> pixel positions (OpenCV pixel centres) in the
    final image: the page rendered at ``p.ppu`` (``page_shape``), degraded by ``apply`` with this
    plan, then turned by :func:`rotate` (photo-hard: its own ``rotation``, the argument is ignored).
    The exact forward model of each quality's geometry, for TruthPage.boxes_px."""
    from synth.photo_hard import projector as hard_projector
    from synth.photo_hard import turn_points

    if p.quality == "photo-hard":
        return hard_projector(p, page_shape)
    h, w = page_shape[:2]
    q = p.params
    if p.quality == "photo":
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        m = cv2.getPerspectiveTransform(src, np.array(q["dst"], np.float32))
        size = tuple(q["frame"])
    else:
        if p.quality == "scan" and abs(q["angle"]) < 0.15:
            m = np.eye(3)
        else:
            m = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), q["angle"], 1.0), [0, 0, 1]])
        if p.quality == "scan":
            m[:2, 2] += (int(round(q["shift"][0] * w)), int(round(q["shift"][1] * h)))
            size = (w, h)
        else:  # fax: sent at half the resolution (cv2.resize's pixel-centre mapping)
            sx, sy = (w // 2) / w, (h // 2) / h
            m = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]]) @ m
            size = (w // 2, h // 2)

    def f(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(xs, np.float64) * p.ppu - 0.5
        y = np.asarray(ys, np.float64) * p.ppu - 0.5
        d = m[2, 0] * x + m[2, 1] * y + m[2, 2]
        px, py = (m[0, 0] * x + m[0, 1] * y + m[0, 2]) / d, (m[1, 0] * x + m[1, 1] * y + m[1, 2]) / d
        return turn_points(px, py, size, rotation)

    return f


def rotate(d: Degraded, rotation: int) -> Degraded:
    """Place the page rotated ``rotation`` degrees clockwise (0/90/180/270)."""
    if rotation % 360 == 0:
        return d
    img = np.ascontiguousarray(np.rot90(d.image, k=-(rotation // 90)))
    return Degraded(img, d.mode, d.jpeg_quality)
