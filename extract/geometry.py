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
