"""Check a published release against its manifest: every file present with its bytes, sha256 and
row count, and nothing else in the folder."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
from pydantic import ValidationError

from load.parquet_io import sha256_file
from schemas.release import Manifest, VerifyProblem, VerifyReport

MANIFEST = "manifest.json"


def verify_release(release_dir: Path) -> VerifyReport:
    """Every problem found in ``release_dir`` (a release folder or the ``latest`` link to one)."""
    release_dir = Path(release_dir)
    report = VerifyReport(release_dir=str(release_dir))
    try:
        manifest = Manifest.model_validate_json((release_dir / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError, ValidationError) as exc:
        report.problems.append(VerifyProblem(kind="manifest", path=MANIFEST, detail=str(exc).splitlines()[0]))
        return report
    report.release_id = manifest.release_id
    listed = set()
    for e in manifest.files:
        listed.add(e.path)
        path = release_dir / e.path
        report.files_checked += 1
        if not path.is_file():
            report.problems.append(VerifyProblem(kind="missing", path=e.path))
            continue
        size = path.stat().st_size
        if size != e.bytes:
            report.problems.append(VerifyProblem(kind="size", path=e.path,
                                                 detail=f"{size} bytes, manifest {e.bytes}"))
        if sha256_file(path) != e.sha256:
            report.problems.append(VerifyProblem(kind="checksum", path=e.path,
                                                 detail="sha256 differs from manifest"))
            continue  # rows of a damaged file mean nothing
        if e.rows is None:
            continue
        try:
            rows = _rows(path)
        except Exception as exc:  # noqa: BLE001 - any read failure is a finding, not a crash
            report.problems.append(VerifyProblem(kind="unreadable", path=e.path, detail=str(exc)[:200]))
            continue
        if rows != e.rows:
            report.problems.append(VerifyProblem(kind="rows", path=e.path,
                                                 detail=f"{rows} rows, manifest {e.rows}"))
    for dirpath, _dirs, names in os.walk(release_dir, followlinks=False):
        for name in names:
            rel = (Path(dirpath) / name).relative_to(release_dir).as_posix()
            if rel != MANIFEST and rel not in listed:
                report.problems.append(VerifyProblem(kind="unexpected", path=rel))
    report.problems.sort(key=lambda p: (p.path, p.kind))
    return report


def _rows(path: Path) -> int:
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as fh:  # records.jsonl: one record per line
        return sum(1 for line in fh if line.strip())
