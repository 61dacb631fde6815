"""The handwritten digit reader: box crops -> calibrated class probabilities -> numbers.

Run time needs onnxruntime, OpenCV and numpy; the model is trained by
``scripts/train_digits.py`` (torch, training only) and shipped as ``extract/models/digits.onnx``
with its metadata (classes, temperature, acceptance threshold, version) in ``digits.json``.
The networks run in onnxruntime rather than ``cv2.dnn``: measured on this project's 2-core machine,
one page of 28 boxes takes 5.4 ms there against 15.6 ms in ``cv2.dnn`` (same logits within 6e-6),
which is most of the per-page reading budget.

The crop contract (the trainer renders its examples through this same function):
``crop_boxes`` maps each digit box's OUTER printed border rect (layout units) through the page
homography and resamples that quad to ``size x size`` pixels, paper white and ink dark. A crop
therefore shows the box border at its edges and the handwriting inside.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from extract.geometry import PageMap
from schemas.layout import Rect
from schemas.records import CLASS_BLANK, CLASS_NODIGIT, DIGIT_CLASSES, DigitReading, FieldReading

CROP_SIZE = 32
N_CLASSES = len(DIGIT_CLASSES)
_NONE = 10  # merged "no digit" symbol in read_number: X mark or blank box
_MAX_SUPERSAMPLE = 4


def _apply_h(H: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    return (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / w, (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / w


def _apply_hs_grid(Hs: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_apply_h_grid`` with one homography per box (``Hs``: n x 3 x 3, the page map as each box
    sees it)."""
    def plane(i: int) -> np.ndarray:
        v = Hs[:, i, 0, None, None] * lx + Hs[:, i, 1, None, None] * ly
        v += Hs[:, i, 2, None, None]
        return v

    w = plane(2)
    mx = plane(0)
    mx /= w
    my = plane(1)
    my /= w
    return mx.astype(np.float32), my.astype(np.float32)


def _apply_h_grid(H: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_apply_h`` on the grid ``lx`` (n, 1, s) x ``ly`` (n, s, 1), as float32 (n, s, s) maps.

    The products with ``lx`` and ``ly`` are taken on the small arrays and only the sums and the
    divisions run on the whole grid (a page's grid is ~115k points; measured on 200 pages,
    ``crop_boxes`` 4.25 -> 3.87 ms per page with this alone). Every element is computed exactly
    as ``_apply_h`` does, ``(a*x + b*y) + c``, in float64, so the crops are bit for bit the same."""
    def plane(row: np.ndarray) -> np.ndarray:
        v = row[0] * lx + row[1] * ly
        v += row[2]
        return v

    w = plane(H[2])
    mx = plane(H[0])
    mx /= w
    my = plane(H[1])
    my /= w
    return mx.astype(np.float32), my.astype(np.float32)


def crop_boxes(gray: np.ndarray, H: np.ndarray | PageMap, rects: Sequence[Rect], size: int = CROP_SIZE) -> np.ndarray:
    """Resample each box quad to ``size x size`` (N, size, size) uint8.

    ``H`` maps layout units (corner-based, like PDF points) to OpenCV pixel coordinates (pixel
    centres at integers). Output pixel ``u`` samples layout ``x = rect.x + (u + 0.5) * w / size``.
    Boxes larger than the output are supersampled (k x k samples averaged per output pixel) so
    thin strokes are not lost to aliasing; all boxes go through one ``cv2.remap``.
    Outside the image counts as paper (255). ``H`` may be a ``PageMap`` (a bent sheet): each box
    is then cut through the map's homography at that box, centred on the box actually found.
    """
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    n = len(rects)
    if n == 0:
        return np.zeros((0, size, size), np.uint8)
    r = np.array([[b.x, b.y, b.w, b.h] for b in rects], np.float64)
    Hs: np.ndarray | None = None
    if isinstance(H, PageMap):
        if H.is_plain:
            H = H.H
        else:
            Hs = H.rect_homographies(r)
    if Hs is None:
        H = np.asarray(H, np.float64)
        # Box size in image pixels (from the mapped corners) decides the supersampling factor.
        cx, cy = _apply_h(H, np.stack([r[:, 0], r[:, 0] + r[:, 2], r[:, 0]], 1),
                          np.stack([r[:, 1], r[:, 1], r[:, 1] + r[:, 3]], 1))
    else:
        z = 0 * r[:, 2]
        corners = np.stack([r[:, :2], r[:, :2] + np.c_[r[:, 2], z], r[:, :2] + np.c_[z, r[:, 3]]], 1)
        hom = np.einsum("nij,nkj->nki", Hs, np.concatenate([corners, np.ones((n, 3, 1))], axis=2))
        cx, cy = hom[..., 0] / hom[..., 2], hom[..., 1] / hom[..., 2]
    side = np.maximum(np.hypot(cx[:, 1] - cx[:, 0], cy[:, 1] - cy[:, 0]),
                      np.hypot(cx[:, 2] - cx[:, 0], cy[:, 2] - cy[:, 0]))
    k = int(np.clip(np.ceil(np.median(side) / size - 0.25), 1, _MAX_SUPERSAMPLE))
    s = size * k
    t = (np.arange(s, dtype=np.float64) + 0.5) / s
    lx = r[:, 0, None, None] + t[None, None, :] * r[:, 2, None, None]  # (n, 1, s)
    ly = r[:, 1, None, None] + t[None, :, None] * r[:, 3, None, None]  # (n, s, 1)
    mx, my = _apply_h_grid(H, lx, ly) if Hs is None else _apply_hs_grid(Hs, lx, ly)
    out = cv2.remap(gray, mx.reshape(n * s, s), my.reshape(n * s, s),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    if k > 1:
        return _block_mean(out.reshape(n, size, k, size, k), k)
    return out.reshape(n, size, size)


def _block_mean(blocks: np.ndarray, k: int) -> np.ndarray:
    """(n, size, k, size, k) uint8 -> (n, size, size): the mean of each k x k block, rounded half to
    even -- exactly ``np.rint(blocks.astype(float32).mean(axis=(2, 4)))``, in integers: k*k strided
    additions instead of a float reduction over two inner axes (1.4 ms of a page's read)."""
    total = np.zeros(blocks.shape[:2] + blocks.shape[3:4], np.uint16)
    for i in range(k):
        for j in range(k):
            total += blocks[:, :, i, :, j]
    kk = k * k
    q, rem = np.divmod(total, kk)
    up = (2 * rem > kk) | ((2 * rem == kk) & (q % 2 == 1))
    return (q + up).astype(np.uint8)


def crops_to_blob(crops: np.ndarray) -> np.ndarray:
    """(N, 32, 32) uint8 paper-white crops -> (N, 1, 32, 32) float32 ink-bright network input."""
    return ((255.0 - crops.astype(np.float32)) / 255.0)[:, None, :, :]


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# Ink evidence (see ``ink_contrast``): measured on 129,126 harvested page crops (scan, fax, photo,
# D.Hasil; scripts/harvest_crops.py): of 105,422 boxes holding a digit or a no-digit mark, 18 fell
# below a contrast of 0.3, and all 18 were fax crops whose strokes the fax had erased entirely;
# of 23,704 blank boxes 96% fell below it. The likelihood used (1e-3) is six times the measured
# 1.7e-4, so a low-contrast box tips towards blank without ever making a digit confidently blank
# on contrast alone.
INK_CONTRAST_MAX = 0.3
INK_LIKELIHOOD_BELOW = 1e-3


def ink_contrast(crops: np.ndarray) -> np.ndarray:
    """(N,) darkest ink inside each box relative to the box's own printed border:
    ``(paper - darkest interior) / (paper - darkest border)``, paper = the interior's 90th percentile.

    Handwriting and marks are about as dark as the printed border (median 0.8); an empty box holds
    at most the faint printed guide dots, dust and noise (median 0.03). Lighting, exposure and paper
    tone cancel in the ratio. A crop without a border in its edge band (no contrast there) gets a
    large ratio, i.e. says nothing.
    """
    x = crops.astype(np.int16)
    n, s = len(x), x.shape[1]
    m, e = round(s * 6 / 32), max(1, round(s * 3 / 32))
    inner = x[:, m:s - m, m:s - m].reshape(n, -1)
    edge = np.concatenate([x[:, :e].reshape(n, -1), x[:, -e:].reshape(n, -1),
                           x[:, :, :e].reshape(n, -1), x[:, :, -e:].reshape(n, -1)], axis=1)
    paper = np.percentile(inner, 90, axis=1)
    return (paper - inner.min(axis=1)) / np.maximum(1.0, paper - edge.min(axis=1))


def with_ink_evidence(probs: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """Combine the network's probabilities with the box's ink contrast (Bayes, contrast treated as
    independent evidence): below ``INK_CONTRAST_MAX`` every class that needs ink (0-9, X) is scaled
    by ``INK_LIKELIHOOD_BELOW`` and the row renormalized. Why: a phone photo at low resolution can
    turn the printed dotted guide into patterns the network reads as "1" or "0" (the real blank
    plano photo in ../shared/forms), while the guide stays far lighter than any pen stroke."""
    if len(crops) == 0:
        return probs
    low = ink_contrast(crops) < INK_CONTRAST_MAX
    if not low.any():
        return probs
    out = probs.copy()
    out[np.ix_(low, np.arange(CLASS_BLANK))] *= INK_LIKELIHOOD_BELOW
    out[low] /= out[low].sum(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class Jitter:
    """Test-time shifts for the boxes the pair still doubts: those crops are read again, shifted by a
    pixel each way (edge pixels repeated), by both networks, and the shifted readings' mean logits
    join the pair's (``original_weight`` times as heavy) before ``softmax(. / temperature)``.

    Why: a crop's registration is only good to about a pixel, and the networks' reading of a
    doubtful box can hinge on where its strokes fall. Measured on the model card's 12,824 test
    digits, the packaged pair with four diagonal one-pixel shifts on the boxes it leaves below
    0.9995 makes 105 errors instead of 116; shifting every doubtful box, or adding scales or
    rotations, does no better (docs/TEST_TIME_SHIFTS.md). Confidently wrong boxes are not touched: they are
    above ``below`` by definition, and shifts do not change the networks' mind on them.
    """

    shifts: tuple[tuple[int, int], ...]
    temperature: float
    below: float
    original_weight: float = 2.0

    @classmethod
    def from_meta(cls, meta: dict | None) -> Jitter | None:
        if not meta:
            return None
        return cls(shifts=tuple((int(dx), int(dy)) for dx, dy in meta["shifts"]),
                   temperature=float(meta["temperature"]), below=float(meta["below"]),
                   original_weight=float(meta.get("original_weight", 2.0)))

    def to_meta(self) -> dict:
        return {"shifts": [list(s) for s in self.shifts], "temperature": self.temperature,
                "below": self.below, "original_weight": self.original_weight}


def shifted(crops: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """(N, S, S) crops moved ``dx`` pixels right and ``dy`` down, the edge rows and columns repeated
    into the gap (the box border continues rather than turning to paper)."""
    n, s = crops.shape[0], crops.shape[1]
    m = max(abs(dx), abs(dy))
    padded = np.pad(crops, ((0, 0), (m, m), (m, m)), mode="edge")
    return padded[:, m - dy:m - dy + s, m - dx:m - dx + s].reshape(n, s, s)


def jittered_crops(crops: np.ndarray, jitter: Jitter) -> np.ndarray:
    """(len(shifts) * N, S, S): every crop under each shift, shift-major."""
    return np.concatenate([shifted(crops, dx, dy) for dx, dy in jitter.shifts])


def still_unsure(pair_probs: np.ndarray, crops: np.ndarray, jitter: Jitter) -> np.ndarray:
    """Indices of the rows whose pair probabilities (with the ink evidence) stay below
    ``jitter.below``: the boxes the shifts are read for."""
    return np.flatnonzero(symbol_probs(with_ink_evidence(pair_probs, crops)).max(axis=1) < jitter.below)


def jittered_logits(pair: np.ndarray, crops: np.ndarray, jitter: Jitter,
                    pair_logits: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The logits (before ``jitter.temperature``) of boxes ``crops`` whose pair logits are ``pair``:
    the pair's reading of every shifted crop, added to the unshifted one counted
    ``original_weight`` times, over the total weight."""
    k = len(jitter.shifts)
    moved = pair_logits(jittered_crops(crops, jitter)).reshape(k, len(crops), -1).sum(axis=0)
    return (jitter.original_weight * pair + moved) / (jitter.original_weight + k)


def doubted(p: np.ndarray, gate: float) -> np.ndarray:
    """Rows the second opinion reads: merged-symbol probability below ``gate``; every row when the
    gate is 1 or more (the pair reads every box: a softmax can round to exactly 1.0)."""
    if gate >= 1.0:
        return np.ones(len(p), bool)
    return symbol_probs(p).max(axis=1) < gate


def calibrated_probs(first: np.ndarray, crops: np.ndarray, temperature: float,
                     second: Callable[[np.ndarray], np.ndarray] | None = None, gate: float = 1.0,
                     second_temperature: float = 1.0, jitter: Jitter | None = None,
                     pair_logits: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """What the reader reports for boxes ``crops`` whose first-network logits are ``first`` (N, 12):
    ``softmax(first / temperature)``; with a second opinion, rows whose merged-symbol probability is
    below ``gate`` (every row at gate 1: ``doubted``) become
    ``softmax(mean of both logits / second_temperature)``, ``second(indices)`` giving the second
    network's logits of those rows only (the reader runs it on those crops alone,
    the trainer looks them up); then the ink evidence. With ``jitter``, the rows the pair leaves
    below ``jitter.below`` are read again shifted (see ``Jitter``), ``pair_logits(crops)`` giving
    the pair's mean logits of any (shifted) crops."""
    p = softmax(first, temperature)
    if second is not None:
        doubt = np.flatnonzero(doubted(p, gate))
        if len(doubt):
            pair = (first[doubt] + second(doubt)) / 2
            p[doubt] = softmax(pair, second_temperature)
            if jitter is not None and pair_logits is not None:
                again = still_unsure(p[doubt], crops[doubt], jitter)
                if len(again):
                    rows = doubt[again]
                    p[rows] = softmax(jittered_logits(pair[again], crops[rows], jitter, pair_logits),
                                      jitter.temperature)
    return with_ink_evidence(p, crops)


class OnnxNet:
    """One ONNX network in onnxruntime on ONE thread: pages are read in parallel by the worker
    pool (one process per core), so intra-op threads would only fight over the same cores."""

    def __init__(self, path: Path | str) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """(N, 1, S, S) float32 -> (N, classes) float32 logits."""
        return np.asarray(self._session.run(None, {self._input: blob})[0], np.float32)


def _model_files() -> tuple[Path, Path]:
    base = resources.files("extract").joinpath("models")
    return Path(str(base.joinpath("digits.onnx"))), Path(str(base.joinpath("digits.json")))


class DigitReader:
    """The packaged (or a given) ONNX digit classifier, loaded once; one forward pass per page."""

    def __init__(self, model_path: Path | str | None = None, meta_path: Path | str | None = None) -> None:
        default_model, default_meta = _model_files()
        model_path = Path(model_path) if model_path else default_model
        meta_path = Path(meta_path) if meta_path else (
            model_path.with_suffix(".json") if model_path != default_model else default_meta)
        self.meta: dict = json.loads(meta_path.read_text("utf-8"))
        if tuple(self.meta["classes"]) != DIGIT_CLASSES:
            raise ValueError(f"{meta_path}: classes {self.meta['classes']} differ from {DIGIT_CLASSES}")
        self.input_size = int(self.meta.get("input_size", CROP_SIZE))
        self.temperature = float(self.meta.get("temperature", 1.0))
        self.accept_threshold = float(self.meta["accept_threshold"])
        self.model_path = model_path
        self._net = OnnxNet(model_path)
        # The second opinion (see ``predict``): a second network, read only on the boxes the first
        # is not sure of. Its file sits beside the first's.
        second = self.meta.get("second_opinion")
        self.second_path: Path | None = None
        self._second: OnnxNet | None = None
        if second:
            self.second_path = model_path.parent / str(second["model"])
            self.gate = float(second["gate"])
            self.second_temperature = float(second["temperature"])
            self._second = OnnxNet(self.second_path)
        # Test-time shifts need the pair (see ``Jitter``).
        self.jitter = Jitter.from_meta(self.meta.get("jitter")) if self._second is not None else None

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    def logits(self, crops: np.ndarray, second: bool = False) -> np.ndarray:
        """(N, 12) logits of the first network (``second``: of the second opinion's)."""
        net = self._second if second else self._net
        if net is None:
            raise ValueError("this model has no second opinion")
        if len(crops) == 0:
            return np.zeros((0, N_CLASSES), np.float32)
        if crops.shape[1:] != (self.input_size, self.input_size):
            raise ValueError(f"crops must be (N, {self.input_size}, {self.input_size}), got {crops.shape}")
        return net.forward(crops_to_blob(crops)).reshape(len(crops), N_CLASSES)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, 12) calibrated probabilities, classes as ``DIGIT_CLASSES``, with the ink evidence.

        With a second opinion, the boxes whose merged-symbol probability under the first network
        is below ``gate`` (every box at gate 1, as packaged since digits-20261123-9395e97b) are read
        again by the second network, and their probabilities become
        ``softmax(mean of both logits / second_temperature)``: the pair, trained apart, errs
        less than either and is better calibrated where it matters. Reading every box costs a
        second pass, and keeps a digit the first network is sure of and wrong about from being
        accepted when the second doubts it (docs/CONFIDENT_ERRORS.md).
        """
        if self._second is None:
            return calibrated_probs(self.logits(crops), crops, self.temperature)
        return calibrated_probs(self.logits(crops), crops, self.temperature,
                                lambda idx: self.logits(crops[idx], second=True), self.gate, self.second_temperature,
                                self.jitter, lambda c: (self.logits(c) + self.logits(c, second=True)) / 2)


@dataclass
class NumberReading:
    """A number read from its boxes (most significant first)."""

    value: int | None  # None: nothing written (all boxes blank/X), or malformed
    confidence: float  # product over boxes of the chosen symbol's probability
    symbols: list[int]  # per box: 0-9 digit, 10 = no digit (X mark or blank, merged)
    box_confidence: list[float]
    alternatives: list[tuple[int | None, float]] = field(default_factory=list)  # other values, best first
    unsure: bool = False  # some box's chosen symbol is below the threshold
    malformed: bool = False  # the best reading is no number (a digit, then blank/X, then ...)

    def to_field(self, probs: np.ndarray, field_id: str, page: int) -> FieldReading:
        return FieldReading(
            field_id=field_id, page=page, value=self.value, confidence=self.confidence,
            digits=[DigitReading(probs=[round(float(x), 6) for x in row], top=int(np.argmax(row)))
                    for row in probs],
            alternatives=self.alternatives, unsure=self.unsure, malformed=self.malformed)


def symbol_probs(probs: np.ndarray) -> np.ndarray:
    """(k, 12) class probabilities -> (k, 11): digits 0-9 and "no digit" (X mark + blank box)."""
    p = np.asarray(probs, np.float64)
    return np.concatenate([p[:, :10], p[:, CLASS_NODIGIT:CLASS_NODIGIT + 1] + p[:, CLASS_BLANK:CLASS_BLANK + 1]],
                          axis=1)


def _is_valid(symbols: Sequence[int]) -> bool:
    started = False
    for s in symbols:
        if s != _NONE:
            started = True
        elif started:
            return False
    return True


def _value(symbols: Sequence[int]) -> int | None:
    digits = [s for s in symbols if s != _NONE]
    return int("".join(map(str, digits))) if digits else None


def best_valid_readings(sp: np.ndarray, n: int, per_box: int = 4, beam: int = 256) -> list[tuple[list[int], float]]:
    """The ``n`` most probable valid symbol sequences (blank/X* then digits*), best first.

    Beam search over the ``per_box`` most probable symbols of each box; a prefix stays valid
    while no "no digit" follows a digit.
    """
    k = len(sp)
    order = np.argsort(-sp, axis=1)[:, :per_box]
    states: list[tuple[float, list[int], bool]] = [(1.0, [], False)]
    for i in range(k):
        nxt: list[tuple[float, list[int], bool]] = []
        for p, seq, started in states:
            for s in order[i]:
                s = int(s)
                if s == _NONE and started:
                    continue
                q = p * float(sp[i, s])
                if q > 0:
                    nxt.append((q, seq + [s], started or s != _NONE))
        nxt.sort(key=lambda t: -t[0])
        states = nxt[:beam]
    return [(seq, p) for p, seq, _ in states[:n]]


def read_number(probs: np.ndarray, threshold: float, top_k: int = 5) -> NumberReading:
    """Decode one number from its boxes' class probabilities (k, 12), most significant box first.

    Leading boxes may be blank or hold a no-digit mark (both mean "no digit" and are merged into
    one symbol); once a digit starts, every later box must be a digit, otherwise the reading is
    ``malformed`` (value None; the valid alternatives are still listed). All boxes "no digit":
    value None (nothing written), not malformed. ``alternatives`` are the next most probable
    valid values (one entry per value, its best sequence's probability), excluding ``value``.
    """
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or probs.shape[1] != N_CLASSES or len(probs) == 0:
        raise ValueError(f"probs must be (k>=1, {N_CLASSES}), got {probs.shape}")
    sp = symbol_probs(probs)
    symbols = [int(s) for s in np.argmax(sp, axis=1)]
    box_conf = [float(sp[i, s]) for i, s in enumerate(symbols)]
    confidence = float(np.prod(box_conf))
    malformed = not _is_valid(symbols)
    value = None if malformed else _value(symbols)
    alternatives: list[tuple[int | None, float]] = []
    seen: set[int | None] = set() if malformed else {value}
    for seq, p in best_valid_readings(sp, n=8 * top_k + 8):
        v = _value(seq)
        if v in seen:
            continue
        seen.add(v)
        alternatives.append((v, float(p)))
        if len(alternatives) >= top_k:
            break
    return NumberReading(value=value, confidence=confidence, symbols=symbols, box_confidence=box_conf,
                         alternatives=alternatives, unsure=min(box_conf) < threshold, malformed=malformed)
