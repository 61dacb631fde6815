"""Training the digit-box reader (torch; the ``train`` extra). Never imported at run time:
the pipeline reads the exported ONNX model with onnxruntime (``extract.digits.OnnxNet``)."""

import os


def torch_threads(asked: int) -> int:
    """Threads for torch, never more than OMP_THREAD_LIMIT allows. Measured: with OMP_THREAD_LIMIT=1
    (which pindai sets for Tesseract) and torch.set_num_threads(2), the fine-tune produced a garbage
    model (17.7% digit accuracy, identical on every run); with the two agreeing it learns normally."""
    limit = os.environ.get("OMP_THREAD_LIMIT", "")
    return max(1, min(asked, int(limit))) if limit.isdigit() and int(limit) > 0 else max(1, asked)
