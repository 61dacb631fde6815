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


def test_threshold_on_digits_ignores_the_blanks_that_dilute_the_error() -> None:
    from training.calibrate import symbol_threshold

    rng = np.random.default_rng(2)
    n = 20000
    conf = 1 - 10 ** rng.uniform(-5, -1.5, n)
    y = rng.integers(0, 10, n)
    wrong = rng.uniform(0, 1, n) > conf
    read = np.where(wrong, (y + 1) % 10, y)
    probs = np.full((n, 12), 1e-9)
    probs[np.arange(n), read] = conf
    # as many blank boxes again, read blank and sure: right, and accepted at any threshold
    blanks = np.zeros((n, 12))
    blanks[:, 11] = 1.0
    probs, y = np.concatenate([probs, blanks]), np.concatenate([y, np.full(n, 11)])
    t_boxes, st_boxes = symbol_threshold(probs, y, 0.002)
    t_digits, st_digits = symbol_threshold(probs, y, 0.002, digits_only=True)
    assert t_digits > t_boxes  # the blanks halve the error counted over every box
    assert st_digits["n"] == n and st_boxes["n"] == 2 * n
    assert st_digits["accepted_error"] <= 0.002


def test_no_threshold_good_enough_accepts_nothing_and_reports_no_error() -> None:
    from training.calibrate import symbol_threshold

    # a reader wrong on every box: no threshold keeps 0.2%, so none is accepted (and nothing is NaN)
    probs = np.full((50, 12), 0.01)
    probs[:, 3] = 0.89
    t, st = symbol_threshold(probs, np.full(50, 4), 0.002, bound=True, digits_only=True)
    assert t == 1.0 and st["accepted"] == 0 and st["accepted_error"] == 0.0 and st["coverage"] == 0.0
