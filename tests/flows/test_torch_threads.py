"""Torch never runs more threads than OMP_THREAD_LIMIT allows (a mismatch produced garbage models)."""

from __future__ import annotations

import pytest

from training import torch_threads


@pytest.mark.parametrize(("limit", "asked", "want"), [("1", 2, 1), ("4", 2, 2), ("", 2, 2), (None, 3, 3),
                                                      ("junk", 2, 2), ("2", 0, 1)])
def test_torch_threads_respect_the_omp_limit(monkeypatch: pytest.MonkeyPatch, limit: str | None, asked: int,
                                             want: int) -> None:
    if limit is None:
        monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    else:
        monkeypatch.setenv("OMP_THREAD_LIMIT", limit)
    assert torch_threads(asked) == want
