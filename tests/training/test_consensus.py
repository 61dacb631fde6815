"""Consensus errors: only boxes every network reads as the same wrong digit."""

from __future__ import annotations

import numpy as np
import pytest

from training.consensus import consensus_errors


def test_only_a_shared_wrong_reading_of_a_digit_counts() -> None:
    y = np.array([3, 3, 3, 3, 11, 7])
    a = np.array([3, 5, 5, 5, 4, 1])
    b = np.array([3, 5, 8, 3, 4, 1])
    # box 0 right; 1 both read 5 (consensus); 2 wrong but not agreed; 3 one right;
    # 4 a blank box (not a digit); 5 both read 1 for 7 (consensus)
    assert consensus_errors([a, b], y).tolist() == [False, True, False, False, False, True]


def test_one_network_counts_its_own_errors_and_none_is_refused() -> None:
    y = np.array([1, 2])
    assert consensus_errors([np.array([1, 7])], y).tolist() == [False, True]
    with pytest.raises(ValueError):
        consensus_errors([], y)
