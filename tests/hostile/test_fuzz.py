"""Seeded fuzzing: 100 corrupted scans and PDFs through process_file (zero crashes), and a small
corrupted batch through run_pipeline (every file accounted for). ``scripts/fuzz.py --cases 1000``
runs the long version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fuzzing import fuzz_cases, fuzz_settings, make_sources, run_fuzz
from hostile_support import assert_accounted

CASES = 100


@pytest.fixture(scope="module")
def sources(scans):
    return make_sources([scans.page(0, p) for p in (1, 2, 3)], scans.codes[0])


def test_fuzz_process_file_never_crashes(sources, tmp_path: Path, reader) -> None:
    report = run_fuzz(sources, CASES, seed=2024, work_dir=tmp_path, settings=fuzz_settings(), reader=reader)
    print(report.summary())
    assert len(report.cases) == CASES
    assert not report.crashes, report.summary()
    assert all(c.outcome for c in report.cases)
    assert max(c.seconds for c in report.cases) < 20, report.summary()
    counts = report.counts()
    assert counts["corrupt_image"] and counts["corrupt_pdf"], counts  # both kinds of damage were met


def test_fuzzed_batch_is_fully_accounted_for(sources, tmp_path: Path, reader) -> None:
    from flows.pipeline import run_pipeline

    src = tmp_path / "in"
    cases = fuzz_cases(sources, 16, seed=7, work_dir=tmp_path / "cases")
    src.mkdir()
    for _i, _, _, path in cases:
        shutil.copyfile(path, src / path.name)
    settings = fuzz_settings()
    settings.read.header_ocr = True
    result, release = run_pipeline(src, tmp_path / "releases", settings)
    rows = assert_accounted(release, src)
    assert len(rows) == 16
