"""The digit-box CNN (torch, training only), its ONNX export and the run-time agreement check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from extract.digits import CROP_SIZE, Jitter, OnnxNet, calibrated_probs, crops_to_blob
from schemas.records import DIGIT_CLASSES


def _block(i: int, o: int) -> list[nn.Module]:
    return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]


class DigitNet(nn.Module):
    """~140k parameters, ~7M multiply-adds per 32x32 crop (the first conv strides: CPU budget)."""

    def __init__(self, n_classes: int = len(DIGIT_CLASSES)) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            *_block(32, 32), nn.MaxPool2d(2),
            *_block(32, 64), *_block(64, 64), nn.MaxPool2d(2),
            *_block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(128, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@torch.no_grad()
def logits_of(model: DigitNet, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    model.eval()
    xs = torch.from_numpy(crops_to_blob(x))
    return torch.cat([model(xs[i:i + batch]) for i in range(0, len(xs), batch)]).numpy().astype(np.float64)


def export_onnx(model: DigitNet, path: Path) -> None:
    model.eval()
    dummy = torch.zeros(1, 1, CROP_SIZE, CROP_SIZE)
    torch.onnx.export(model, dummy, str(path), opset_version=13, dynamo=False, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})


def check_runtime(path: Path, model: DigitNet, x: np.ndarray) -> float:
    """Largest logit difference between the exported file, run as the pipeline runs it
    (``extract.digits.OnnxNet``), and torch, on batches of 1, 7 and 64 crops."""
    net = OnnxNet(path)
    worst = 0.0
    for n in (1, 7, min(len(x), 64)):
        got = net.forward(crops_to_blob(x[:n])).reshape(n, -1)
        want = logits_of(model, x[:n])
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


class TorchReader:
    """What ``extract.digits.DigitReader.predict`` computes, on torch networks (training and its
    reports): the first network's calibrated probabilities, the second opinion on the boxes it
    doubts, the test-time shifts on those the pair still doubts, the ink evidence
    (``extract.digits.calibrated_probs``)."""

    def __init__(self, first: DigitNet, temperature: float, second: DigitNet | None = None,
                 gate: float = 1.0, second_temperature: float = 1.0, jitter: Jitter | None = None) -> None:
        self.first, self.temperature = first, temperature
        self.second, self.gate, self.second_temperature = second, gate, second_temperature
        self.jitter = jitter

    def probs(self, x: np.ndarray) -> np.ndarray:
        second = self.second
        if second is None:
            return calibrated_probs(logits_of(self.first, x), x, self.temperature)
        return calibrated_probs(logits_of(self.first, x), x, self.temperature,
                                lambda idx: logits_of(second, x[idx]), self.gate, self.second_temperature,
                                self.jitter, lambda c: (logits_of(self.first, c) + logits_of(second, c)) / 2)
