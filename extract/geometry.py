"""Small homography helpers shared by registration (pure numpy, no state)."""

from __future__ import annotations

import numpy as np


def apply_h(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map N x 2 points through the 3x3 homography ``H``."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    hom = pts @ H[:, :2].T + H[:, 2]
    return hom[:, :2] / hom[:, 2:3]


def jacobian(H: np.ndarray, x: float, y: float) -> np.ndarray:
    """2x2 derivative of the mapping at (x, y): how a small layout step moves in the image."""
    a = H @ np.array([x, y, 1.0])
    w = a[2]
    u, v = a[0] / w, a[1] / w
    return np.array([[(H[0, 0] - u * H[2, 0]) / w, (H[0, 1] - u * H[2, 1]) / w],
                     [(H[1, 0] - v * H[2, 0]) / w, (H[1, 1] - v * H[2, 1]) / w]])


def local_scale(H: np.ndarray, x: float, y: float) -> float:
    """Image pixels per layout unit at (x, y) (square root of the area ratio)."""
    return float(np.sqrt(abs(np.linalg.det(jacobian(H, x, y)))))


def scaled(H: np.ndarray, factor: float) -> np.ndarray:
    """``H`` followed by scaling the image by ``factor`` (e.g. full resolution -> detection copy)."""
    return np.diag([factor, factor, 1.0]) @ H


def fit_h(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares homography src -> dst (DLT on normalised points); None if degenerate."""
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    if len(src) < 4:
        return None
    ts, td = _normaliser(src), _normaliser(dst)
    s = apply_h(ts, src)
    d = apply_h(td, dst)
    n = len(s)
    A = np.zeros((2 * n, 9))
    A[0::2, 0:2], A[0::2, 2] = s, 1
    A[0::2, 6:8] = -d[:, :1] * s
    A[0::2, 8] = -d[:, 0]
    A[1::2, 3:5], A[1::2, 5] = s, 1
    A[1::2, 6:8] = -d[:, 1:2] * s
    A[1::2, 8] = -d[:, 1]
    _, sv, vt = np.linalg.svd(A)
    if sv[-2] < 1e-9 * sv[0]:
        return None  # points (nearly) collinear: no unique homography
    Hn = vt[-1].reshape(3, 3)
    H = np.linalg.inv(td) @ Hn @ ts
    if abs(H[2, 2]) < 1e-12:
        return None
    return H / H[2, 2]


def fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares affine map src -> dst as a 3x3 matrix; None if degenerate."""
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    if len(src) < 3:
        return None
    A = np.hstack([src, np.ones((len(src), 1))])
    sol, _, rank, _ = np.linalg.lstsq(A, dst, rcond=None)
    if rank < 3:
        return None
    return np.vstack([sol.T, [0.0, 0.0, 1.0]])


def _normaliser(pts: np.ndarray) -> np.ndarray:
    c = pts.mean(axis=0)
    d = np.sqrt(((pts - c) ** 2).sum(axis=1)).mean()
    s = np.sqrt(2) / d if d > 1e-12 else 1.0
    return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1.0]])


# -- the page map: one homography and a smooth correction through every anchor found ------------


def _tps_kernel(d2: np.ndarray) -> np.ndarray:
    """Thin-plate kernel r^2 log r, written on squared distances (0 at r = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 0.5 * d2 * np.log(d2)
    return np.nan_to_num(k, nan=0.0, posinf=0.0, neginf=0.0)


class PageMap:
    """Layout units -> image pixels: a homography ``H`` plus a thin-plate spline of the residuals
    at the anchors (layout point, image point pairs: tag corners, marks, digit boxes found).

    Why not the homography alone: a curled sheet seen through a wide lens bends the printed grid,
    and one homography then misses boxes by many pixels; the spline follows the bend through the
    boxes actually found, so every consumer (crops, bubbles, header, review crops) cuts what is
    really printed there. ``smooth`` (layout units squared per unit of residual, relative to the
    page size) trades exactness at the anchors for smoothness between them; with no anchors the
    map is the homography exactly.
    """

    def __init__(self, H: np.ndarray, anchors: np.ndarray | None = None, smooth: float = 1e-4) -> None:
        self.H = np.asarray(H, np.float64)
        a = np.asarray(anchors if anchors is not None else np.zeros((0, 4)), np.float64).reshape(-1, 4)
        self.anchors = a
        self.smooth = float(smooth)
        self._w: np.ndarray | None = None
        if len(a) >= 3:
            self._fit(a)

    @property
    def is_plain(self) -> bool:
        return self._w is None

    def _fit(self, a: np.ndarray) -> None:
        lay = a[:, :2]
        res = a[:, 2:] - apply_h(self.H, lay)
        self._c = lay.mean(axis=0)
        self._s = 1.0 / max(float(np.ptp(lay, axis=0).max()), 1.0)
        p = (lay - self._c) * self._s
        n = len(p)
        K = _tps_kernel(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
        K[np.diag_indices(n)] += self.smooth * n
        P = np.hstack([np.ones((n, 1)), p])
        A = np.zeros((n + 3, n + 3))
        A[:n, :n], A[:n, n:], A[n:, :n] = K, P, P.T
        rhs = np.zeros((n + 3, 2))
        rhs[:n] = res
        try:
            sol = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError:
            sol = np.linalg.lstsq(A, rhs, rcond=None)[0]
        self._p, self._w, self._aff = p, sol[:n], sol[n:]

    def correction(self, pts: np.ndarray) -> np.ndarray:
        """N x 2 image-pixel offsets the spline adds to the homography at layout ``pts``."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        if self._w is None:
            return np.zeros_like(pts)
        q = (pts - self._c) * self._s
        out = np.hstack([np.ones((len(q), 1)), q]) @ self._aff
        for i in range(0, len(q), 4096):  # bounded memory for large grids
            d2 = ((q[i:i + 4096, None, :] - self._p[None, :, :]) ** 2).sum(-1)
            out[i:i + 4096] += _tps_kernel(d2) @ self._w
        return out

    def to_image(self, pts: np.ndarray) -> np.ndarray:
        """Map N x 2 layout points to image pixels."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        return apply_h(self.H, pts) + self.correction(pts)

    def rect_homographies(self, rects: np.ndarray) -> np.ndarray:
        """(n, 3, 3): for each layout rect (x, y, w, h), the homography through its four mapped
        corners -- the map as seen by one box (the bend within a box is far below a pixel)."""
        r = np.asarray(rects, np.float64).reshape(-1, 4)
        n = len(r)
        if self._w is None:
            return np.broadcast_to(self.H, (n, 3, 3)).copy()
        src = np.stack([r[:, :2], r[:, :2] + np.c_[r[:, 2], 0 * r[:, 2]], r[:, :2] + r[:, 2:4],
                        r[:, :2] + np.c_[0 * r[:, 2], r[:, 3]]], axis=1)  # n x 4 x 2
        dst = self.to_image(src.reshape(-1, 2)).reshape(n, 4, 2)
        return homographies_4pt(src, dst)

    def local_h(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return self.rect_homographies(np.array([[x0, y0, x1 - x0, y1 - y0]]))[0]

    def scale_at(self, pts: np.ndarray) -> np.ndarray:
        """Image pixels per layout unit at each layout point (square root of the area ratio)."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        e = 1.0
        a = self.to_image(pts)
        bx = self.to_image(pts + (e, 0))
        by = self.to_image(pts + (0, e))
        u, v = (bx - a) / e, (by - a) / e
        return np.sqrt(np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]))


def homographies_4pt(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(n, 3, 3) exact homographies taking each src quad (n, 4, 2) to its dst quad (vectorised)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = len(src)
    # Well conditioned: both quads shifted to their own first corner, then shifted back.
    s0, d0 = src[:, :1, :], dst[:, :1, :]
    x, y = (src - s0)[..., 0], (src - s0)[..., 1]
    u, v = (dst - d0)[..., 0], (dst - d0)[..., 1]
    z, o = np.zeros_like(x), np.ones_like(x)
    rows_u = np.stack([x, y, o, z, z, z, -u * x, -u * y], axis=-1)
    rows_v = np.stack([z, z, z, x, y, o, -v * x, -v * y], axis=-1)
    A = np.concatenate([rows_u, rows_v], axis=1)  # n x 8 x 8
    b = np.concatenate([u, v], axis=1)[..., None]
    try:
        h = np.linalg.solve(A, b)[..., 0]
    except np.linalg.LinAlgError:
        h = np.stack([np.linalg.lstsq(A[i], b[i, :, 0], rcond=None)[0] for i in range(n)])
    Hc = np.concatenate([h, np.ones((n, 1))], axis=1).reshape(n, 3, 3)
    Ts = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    Ts[:, :2, 2] = -s0[:, 0]
    Td = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    Td[:, :2, 2] = d0[:, 0]
    return Td @ Hc @ Ts


def page_map(reg: object) -> PageMap:
    """The map of a ``schemas.records.Registration`` (its homography and anchors)."""
    anchors = getattr(reg, "anchors", None) or None
    smooth = getattr(reg, "anchor_scale", None)
    return PageMap(np.asarray(reg.homography, np.float64), np.asarray(anchors) if anchors else None,  # type: ignore[attr-defined]
                   smooth=float(smooth) if smooth else 1e-4)


def as_map(H: object) -> PageMap:
    """A PageMap from a PageMap, a 3x3 homography (array or nested list), or a Registration."""
    if isinstance(H, PageMap):
        return H
    if hasattr(H, "homography"):
        return page_map(H)
    return PageMap(np.asarray(H, np.float64))
