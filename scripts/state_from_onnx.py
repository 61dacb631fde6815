"""Recover the trained digit networks from their ONNX packages, for ``train_digits.py --reuse``.

    .venv/bin/python scripts/state_from_onnx.py                 (-> build/digits-cache)

``make model`` trains every network into ``build/digits-cache/model-<variant>-<tag>.pt`` (+ .json:
how it was trained) and packages ONNX files; the cache is not committed. To re-calibrate or
re-package the committed networks on another machine (new calibration pages, the test-time shifts)
without training them again, this writes that cache back from the committed ONNX files: the main
pair (``extract/models``) and each cross-source pair (``training/cross-source/<variant>``), the
first network under ``--tag`` and the second opinion under ``--second-tag``. The networks come
back through ``training.weights.net_from_onnx`` with identity BatchNorms (the exporter folded
them into the convolutions: exact in eval mode, and exported again they give the same file bit for
bit), and each is checked against its file in onnxruntime.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extract.digits import CROP_SIZE  # noqa: E402
from training.net import check_runtime  # noqa: E402
from training.weights import net_from_onnx  # noqa: E402

PACKAGES = {"main": ROOT / "extract" / "models", "no-mnist": ROOT / "training" / "cross-source" / "no-mnist",
            "no-ardis": ROOT / "training" / "cross-source" / "no-ardis"}
_DROP = ("temperature", "second_opinion", "tag", "gate", "jitter")  # calibration, fitted again by train_digits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "digits-cache")
    ap.add_argument("--tag", default="v4")
    ap.add_argument("--second-tag", default="v5b")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    probe = np.random.default_rng(0).integers(0, 256, (64, CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    for name, folder in PACKAGES.items():
        meta = json.loads((folder / "digits.json").read_text("utf-8"))
        trained = meta["training"][name] if name in meta["training"] else meta["training"]
        nets = [(args.tag, folder / "digits.onnx", trained),
                (args.second_tag, folder / meta["second_opinion"]["model"], trained["second_opinion"])]
        for tag, onnx_path, info in nets:
            net = net_from_onnx(onnx_path, None)
            diff = check_runtime(onnx_path, net, probe)
            if diff > 1e-3:
                sys.exit(f"{onnx_path}: the recovered network differs from the file by {diff:.2e}")
            f = args.cache / f"model-{name}-{tag}.pt"
            torch.save(net.state_dict(), f)
            kept = {k: v for k, v in info.items() if k not in _DROP}
            f.with_suffix(".json").write_text(
                json.dumps({**kept, "recovered_from": str(onnx_path.relative_to(ROOT))}, indent=1), "utf-8")
            print(f"{f.relative_to(ROOT)}: from {onnx_path.relative_to(ROOT)} (max logit difference {diff:.1e})",
                  flush=True)


if __name__ == "__main__":
    main()
