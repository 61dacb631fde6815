from __future__ import annotations

from pathlib import Path

import pytest

from synth.generate import GenerateOptions, generate_batch


@pytest.fixture(scope="session")
def prefect_server():
    """One real (ephemeral) Prefect server for the whole session, on a fresh temporary database."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def small_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few scan-quality forms of every kind the pipeline reads, with truth.jsonl."""
    out = tmp_path_factory.mktemp("batch")
    generate_batch(GenerateOptions(out_dir=out, forms=4, province="32", seed=11, quality="scan",
                                   form_types=["ppwp", "ppwp-salinan"]))
    return out
