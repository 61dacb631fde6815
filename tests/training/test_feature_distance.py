"""Feature-space distance (scripts/confident_errors.py) and the training loop's mixup ablation."""

from __future__ import annotations

import numpy as np
import pytest

from training.feature_distance import ClassGaussians, share_refused_to_catch


def _blobs(rng: np.random.Generator, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 3, n)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 6.0, 0.0]])
    return centres[y] + rng.normal(0, 1, (n, 3)), y


def test_a_point_far_from_the_class_it_was_read_as_is_far() -> None:
    f, y = _blobs(np.random.default_rng(1))
    g = ClassGaussians.fit(f, y, 3)
    near, far = np.array([[6.1, 0.2, -0.1]]), np.array([[6.0, 0.0, 9.0]])
    d_near, _ = g.distance(near, np.array([1]))
    d_far, _ = g.distance(far, np.array([1]))
    d_wrong_class, _ = g.distance(near, np.array([2]))
    assert d_near[0] < 5 < d_far[0] and d_wrong_class[0] > 20
    # the relative distance subtracts the distance to all data: a typical point stays low
    _, rel = g.distance(near, np.array([1]))
    assert rel[0] < d_near[0]


def test_every_class_needs_training_features() -> None:
    f, y = _blobs(np.random.default_rng(2))
    with pytest.raises(ValueError, match="classes"):
        ClassGaussians.fit(f[y != 2], y[y != 2], 3)


def test_share_refused_to_catch_the_wrong_ones() -> None:
    right = np.arange(100.0)
    assert share_refused_to_catch(right, np.array([95.0, 200.0])) == pytest.approx(0.05)
    assert share_refused_to_catch(right, np.array([300.0])) == 0.0
    assert share_refused_to_catch(right, np.array([])) == 0.0


def test_mixup_trains_a_network() -> None:
    torch = pytest.importorskip("torch", reason="the train extra (make test installs it)")
    from training.fit import train_model

    rng = np.random.default_rng(3)
    x = rng.integers(0, 255, (64, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 12, 64)
    torch.set_num_threads(1)  # as OMP_THREAD_LIMIT=1 (conftest) demands: more hangs or corrupts training
    a, seen = train_model({"x": x, "y": y}, 512, 5, "test", batch=32, mixup=0.3)
    b, _ = train_model({"x": x, "y": y}, 512, 5, "test", batch=32, mixup=0.3)
    assert seen == 512
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)  # seeded: the blend weights are drawn reproducibly too
