"""The deployed ONNX model back into a trainable ``DigitNet`` (for fine-tuning; torch + onnx).

The export (``training.net.export_onnx``, eval mode, constant folding) fuses every BatchNorm into
the convolution before it: the ONNX holds five Conv (weight, bias) and one Gemm, in the network's
order, and no BatchNorm statistics. The mapping is exact in eval mode but a fused net cannot be
fine-tuned as is: in training mode BatchNorm normalizes with the batch's statistics, and a
BatchNorm set to the identity (weight 1, mean 0, var 1) would then rescale every channel to unit
variance, forgetting the learned scales on the first step. So each BatchNorm is re-parameterized
from data: with the convolution output ``z`` (no bias) having per-channel mean ``m`` and variance
``v`` on representative crops, running stats ``(m, v)``, weight ``sqrt(v + eps)`` and bias
``b + m`` give the same eval-mode function as the fused model AND a training-mode function that
starts (batch statistics close to ``m, v``) where the deployed model is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

from extract.digits import crops_to_blob
from schemas.learning import UpdateError, UpdateProblem
from training.net import DigitNet


def _onnx_layers(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    model = onnx.load(str(path))
    init = {i.name: np.array(numpy_helper.to_array(i)) for i in model.graph.initializer}  # writable copies
    convs, gemm = [], None
    for node in model.graph.node:
        if node.op_type == "Conv":
            if len(node.input) != 3:
                raise UpdateError(UpdateProblem.WEIGHTS_UNMAPPABLE, f"{path}: a Conv without a fused bias")
            convs.append((init[node.input[1]], init[node.input[2]]))
        elif node.op_type in ("BatchNormalization",):
            raise UpdateError(UpdateProblem.WEIGHTS_UNMAPPABLE, f"{path}: unfused BatchNormalization")
        elif node.op_type == "Gemm":
            gemm = (init[node.input[1]], init[node.input[2]])
    if gemm is None:
        raise UpdateError(UpdateProblem.WEIGHTS_UNMAPPABLE, f"{path}: no Gemm (classifier) layer")
    return convs, gemm


def _pairs(net: DigitNet) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    mods = list(net.features)
    return [(m, mods[i + 1]) for i, m in enumerate(mods)
            if isinstance(m, nn.Conv2d) and isinstance(mods[i + 1], nn.BatchNorm2d)]


@torch.no_grad()
def net_from_onnx(path: Path, crops: np.ndarray | None) -> DigitNet:
    """A ``DigitNet`` computing what the ONNX model at ``path`` computes (eval mode), its
    BatchNorms re-parameterized on ``crops`` (N x 32 x 32 uint8, representative inputs) for
    fine-tuning. ``crops=None`` leaves them the identity: the fused model exactly, for evaluation
    and re-calibration only (exported again, it gives the same file, bit for bit)."""
    convs, (w_fc, b_fc) = _onnx_layers(path)
    net = DigitNet().eval()
    pairs = _pairs(net)
    if len(pairs) != len(convs) or tuple(net.head[1].weight.shape) != w_fc.shape:
        raise UpdateError(UpdateProblem.WEIGHTS_UNMAPPABLE,
                          f"{path}: {len(convs)} conv layers and a {w_fc.shape} classifier, "
                          f"DigitNet has {len(pairs)} and {tuple(net.head[1].weight.shape)}")
    for (conv, bn), (w, b) in zip(pairs, convs, strict=True):
        if tuple(conv.weight.shape) != w.shape:
            raise UpdateError(UpdateProblem.WEIGHTS_UNMAPPABLE, f"{path}: conv {w.shape} vs {tuple(conv.weight.shape)}")
        conv.weight.copy_(torch.from_numpy(w))
        bn.weight.fill_(1.0)
        bn.bias.copy_(torch.from_numpy(b))
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)  # identity: the fused model, exactly
    net.head[1].weight.copy_(torch.from_numpy(w_fc))
    net.head[1].bias.copy_(torch.from_numpy(b_fc))
    if crops is None:
        return net
    # Statistics of every conv output (no bias) in one eval pass: the identity BatchNorms make the
    # pass the deployed model's, so each layer sees the inputs it sees in deployment.
    stats: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [conv.register_forward_hook(
        lambda _m, _i, out, k=k: stats.__setitem__(k, (out.mean((0, 2, 3)), out.var((0, 2, 3), unbiased=False))))
        for k, (conv, _) in enumerate(pairs)]
    net(torch.from_numpy(crops_to_blob(crops)))
    for h in hooks:
        h.remove()
    for k, (_, bn) in enumerate(pairs):
        m, v = stats[k]
        v = v.clamp_min(1e-6)
        bias = bn.bias.clone()
        bn.running_mean.copy_(m)
        bn.running_var.copy_(v)
        bn.weight.copy_(torch.sqrt(v + bn.eps))
        bn.bias.copy_(bias + m)
    return net
