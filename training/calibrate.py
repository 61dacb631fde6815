"""Temperature scaling, calibration error and the acceptance threshold (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from extract.digits import Jitter, doubted, jittered_logits, softmax, still_unsure, symbol_probs
from schemas.records import DIGIT_CLASSES

MAX_ACCEPTED_ERROR = 0.002
# Test-time shifts of the packaged readers (``extract.digits.Jitter``): the four diagonal one-pixel
# moves. Straight moves, scalings and rotations were measured too and did no better
# (docs/TEST_TIME_SHIFTS.md).
JITTER_SHIFTS = ((1, 1), (-1, -1), (1, -1), (-1, 1))

def nll(logits: np.ndarray, y: np.ndarray, T: float) -> float:
    p = softmax(logits, T)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Golden-section search of log T minimizing NLL (NLL is unimodal in T)."""
    a, b = math.log(0.2), math.log(10.0)
    gr = (math.sqrt(5) - 1) / 2
    c, d = b - gr * (b - a), a + gr * (b - a)
    for _ in range(60):
        if nll(logits, y, math.exp(c)) < nll(logits, y, math.exp(d)):
            b = d
        else:
            a = c
        c, d = b - gr * (b - a), a + gr * (b - a)
    return round(math.exp((a + b) / 2), 4)


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    e = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            e += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return float(e)


def wilson_upper(wrong: np.ndarray, n: np.ndarray, z: float = 1.645) -> np.ndarray:
    """One-sided upper confidence bound (Wilson score; z = 1.645: 95%) of an error rate wrong / n."""
    p = wrong / n
    return (p + z * z / (2 * n) + z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def min_threshold(conf: np.ndarray, correct: np.ndarray, max_err: float, bound: bool = False) -> float:
    """Smallest threshold t such that among conf >= t at most ``max_err`` are wrong (``bound``: such
    that the 95% upper confidence bound of that share is at most ``max_err``: the calibration pages
    are a sample, and a threshold fitted to the point estimate is too low about half the time)."""
    order = np.argsort(-conf)
    c, ok = conf[order], correct[order]
    wrong = np.cumsum(~ok)
    n = np.arange(1, len(c) + 1)
    good = (wilson_upper(wrong, n) if bound else wrong / n) <= max_err
    # the accepted set must be a prefix ending where confidence changes
    last = np.nonzero(good & np.r_[c[1:] < c[:-1], True])[0]
    if len(last) == 0:
        return 1.0
    return float(c[last[-1]])


def accept_stats(probs: np.ndarray, y: np.ndarray, t: float) -> dict:
    conf, pred = probs.max(1), probs.argmax(1)
    acc = conf >= t
    return {"coverage": round(float(acc.mean()), 4),
            "accepted_error": round(float((pred[acc] != y[acc]).mean()) if acc.any() else 0.0, 5),
            "n": int(len(y)), "accepted": int(acc.sum())}


def confusion(y: np.ndarray, pred: np.ndarray, k: int = len(DIGIT_CLASSES)) -> np.ndarray:
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (y, pred), 1)
    return m


def digit_boxes(sp: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The boxes issue #10's "accepted digits" counts: a digit on paper or read as one (``sp``:
    merged-symbol probabilities, N x 11; ``y``: 12-class labels)."""
    return (np.minimum(y, 10) < 10) | (sp.argmax(1) < 10)


def symbol_threshold(probs: np.ndarray, y: np.ndarray, max_err: float, bound: bool = False,
                     digits_only: bool = False) -> tuple[float, dict]:
    """Threshold on the merged-symbol confidence (as ``read_number`` decides ``unsure``) keeping at
    most ``max_err`` of accepted boxes wrong (``bound``: with 95% confidence, see ``min_threshold``).

    ``digits_only``: of accepted *digits*, the boxes with a digit on paper or read as one. Issue #10
    asks that of digits; counting the blank boxes and no-digit marks too, which a reader almost
    never gets wrong, dilutes the error by about a third and gives a lower threshold."""
    sp = symbol_probs(probs)
    conf, ok = sp.max(1), sp.argmax(1) == np.minimum(y, 10)
    if digits_only:
        keep = digit_boxes(sp, y)
        conf, ok, y = conf[keep], ok[keep], y[keep]
    t = min_threshold(conf, ok, max_err, bound)
    t = math.ceil(t * 1e6) / 1e6
    acc = conf >= t
    # nothing may be accepted (no threshold keeps the error low enough): no error among none
    err = float((~ok[acc]).mean()) if acc.any() else 0.0
    return t, {"coverage": round(float(acc.mean()), 4), "accepted_error": round(err, 5),
               "n": int(len(y)), "accepted": int(acc.sum())}


def second_temperature(first: np.ndarray, second: np.ndarray, y: np.ndarray, temperature: float,
                       gate: float) -> float:
    """The pair's temperature, fitted where the pair speaks: on the boxes whose first-network
    merged-symbol probability is below ``gate`` (all boxes when fewer than 50 are)."""
    doubt = doubted(softmax(first, temperature), gate)
    both = (first + second) / 2
    return fit_temperature(both[doubt], y[doubt]) if doubt.sum() >= 50 else fit_temperature(both, y)


def fit_jitter(x: np.ndarray, y: np.ndarray, logits: Callable[[np.ndarray, bool], np.ndarray], temperature: float,
               gate: float, second_temperature: float, shifts: tuple[tuple[int, int], ...] = JITTER_SHIFTS,
               below: float | None = None) -> Jitter:
    """The test-time shifts of a pair, their temperature fitted where they speak: on the calibration
    boxes ``x`` (labels ``y``) that the pair leaves below ``below`` (default: the gate).
    ``logits(crops, second)`` gives either network's logits (torch at training, onnxruntime after)."""
    jitter = Jitter(shifts=tuple(shifts), temperature=1.0, below=gate if below is None else below)
    first = logits(x, False)
    doubt = np.flatnonzero(doubted(softmax(first, temperature), gate))
    pair = (first[doubt] + logits(x[doubt], True)) / 2
    again = still_unsure(softmax(pair, second_temperature), x[doubt], jitter)
    if len(again) < 50:  # too few to fit on: the pair's own temperature
        return Jitter(jitter.shifts, second_temperature, jitter.below)
    rows = doubt[again]
    z = jittered_logits(pair[again], x[rows], jitter, lambda c: (logits(c, False) + logits(c, True)) / 2)
    return Jitter(jitter.shifts, fit_temperature(z, y[rows]), jitter.below)
