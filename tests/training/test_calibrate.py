"""Acceptance thresholds: the point estimate, and the 95% upper bound the packaged threshold uses."""

from __future__ import annotations

import numpy as np

from training.calibrate import min_threshold, wilson_upper


def test_wilson_upper_bounds_the_rate_and_tightens_with_data() -> None:
    assert wilson_upper(np.array([0]), np.array([1000]))[0] > 0  # no error seen is not "no error"
    few, many = wilson_upper(np.array([2, 20]), np.array([1000, 10000]))
    assert few > 0.002 and many > 0.002  # above the observed 0.2% ...
    assert many < few  # ... by less, the more boxes it rests on


def test_bounded_threshold_is_stricter_than_the_point_estimate() -> None:
    rng = np.random.default_rng(1)
    conf = 1 - 10 ** rng.uniform(-5, -1, 50000)  # most boxes near certain, as on real pages
    correct = rng.uniform(0, 1, 50000) < conf  # calibrated: wrong with probability 1 - conf
    t_point = min_threshold(conf, correct, 0.002)
    t_bound = min_threshold(conf, correct, 0.002, bound=True)
    assert 0.9 < t_point < t_bound < 1.0
    acc = conf >= t_bound
    assert (~correct[acc]).mean() <= 0.002
