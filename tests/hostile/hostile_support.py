"""Shared checks of the hostile-input tests: every input file accounted for, with a status, an
enumerated reason and a one-line detail an operator understands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq

from extract.ingest import MANIFEST_NAME
from extract.plan import plan_batch
from extract.process import process_file
from schemas.reasons import Reason, Status
from schemas.records import FileOutcome, FileStatus
from schemas.settings import SUPPORTED_EXTENSIONS, Settings
from transform.validate import validate_batch

BAD = {Status.REJECTED.value, Status.FAILED.value}
# A crash of pindai, whatever the input: never acceptable for hostile input.
CRASH = Reason.INTERNAL_ERROR


def input_files(input_dir: Path) -> set[str]:
    """What an operator counts as the batch: every supported file below ``input_dir`` (folder
    symlinks not followed, hidden files and manifest.csv not counted), names as the release shows
    them (a name that is not UTF-8 with backslash escapes)."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(input_dir, followlinks=False):
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
        for name in filenames:
            if name.startswith(".") or name == MANIFEST_NAME or Path(name).suffix.lower() not in SUPPORTED_EXTENSIONS:
                continue
            rel = (Path(dirpath) / name).relative_to(input_dir).as_posix()
            out.add(os.fsencode(rel).decode("utf-8", "backslashreplace"))
    return out


def check_entry(f: dict) -> None:
    """One file's row: a known status; rejected/failed carry enumerated reasons and a one-line detail."""
    assert f["status"] in {s.value for s in Status}, f
    for r in f["reasons"]:
        Reason(r)  # enumerated
    if f["status"] in BAD:
        assert f["reasons"], f"{f['file']}: {f['status']} without a reason"
        assert f["detail"].strip(), f"{f['file']}: no detail"
        assert "\n" not in f["detail"] and "\r" not in f["detail"], f"{f['file']}: detail not one line: {f['detail']!r}"
        assert len(f["detail"]) <= 400, f"{f['file']}: detail too long for an operator: {f['detail']!r}"
    assert CRASH.value not in f["reasons"], f"{f['file']} crashed pindai: {f['detail']}"


def assert_accounted(release: Path, input_dir: Path) -> dict[str, dict]:
    """Every input file appears exactly once in the release (run.json, the ``files`` table and the
    summary), with a status and, when rejected or failed, a reason and a one-line detail.
    Returns the run.json rows by file name."""
    run = json.loads((Path(release) / "run.json").read_text("utf-8"))
    rows = run["files"]
    names = [f["file"] for f in rows]
    assert len(names) == len(set(names)), "a file is listed twice"
    expected = input_files(Path(input_dir))
    assert set(names) == expected, (f"missing: {sorted(expected - set(names))}, "
                                    f"unexpected: {sorted(set(names) - expected)}")
    summary = run["summary"]
    assert summary["files"] == len(expected)
    assert sum(summary["files_by_status"].values()) == len(expected)
    table = pq.read_table(Path(release) / "files" / "part-0.parquet")
    assert sorted(table.column("file").to_pylist()) == sorted(names)
    for f in rows:
        check_entry(f)
    return {f["file"]: f for f in rows}


def statuses(input_dir: Path, settings: Settings | None = None, reader=None) -> dict[str, FileStatus]:
    """Plan, process file by file and validate ``input_dir`` (no release written): FileStatus by name."""
    settings = settings or Settings(workers=1)
    plan = plan_batch(input_dir, settings.limits)
    outcomes: list[FileOutcome] = list(plan.settled)
    outcomes += [process_file(item, settings, reader) for item in plan.items]
    _, files = validate_batch(outcomes)
    assert len(files) == plan.total_files
    by_name = {f.file: f for f in files}
    for f in files:
        check_entry(f.model_dump(mode="json"))
    return by_name
