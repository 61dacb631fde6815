"""Errors that networks trained apart all make the same way: the part of a reader's error that
more networks of the same kind, or averaging them, will not mend (``scripts/reader_floor.py``)."""

from __future__ import annotations

import numpy as np


def consensus_errors(preds: list[np.ndarray], y: np.ndarray, n_digits: int = 10) -> np.ndarray:
    """Boxes holding a digit (label < ``n_digits``) that every network reads as one and the same
    wrong class; ``preds`` are the networks' predicted classes, one array per network."""
    if not preds:
        raise ValueError("no predictions: a consensus needs at least one network")
    p = np.stack(preds)
    return (y < n_digits) & np.all(p != y, axis=0) & np.all(p == p[0], axis=0)
