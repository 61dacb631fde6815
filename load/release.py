"""Write a batch result as a release: hive-partitioned Parquet per province, published atomically.

``RELEASES_DIR/<release_id>/<table>/province_code=NN/part-0.parquet`` plus ``manifest.json``
(every file with rows, bytes and sha256) and ``run.json`` (what the run did, for ``pindai status``).
The release is written into a staging folder and renamed into place in one step; ``latest``
moves only after that, so readers never see a half-written release.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from load.tables import TABLE_BUILDERS
from schemas.records import BatchResult

SCHEMA_VERSION = "1"
LATEST = "latest"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def write_table(table: pa.Table, out_dir: Path, partition: str | None) -> list[Path]:
    """One ``part-0.parquet`` per partition value (sorted rows, zstd, no timestamps in metadata)."""
    written: list[Path] = []
    if partition is None or table.num_rows == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "part-0.parquet"
        pq.write_table(table, path, compression="zstd")
        return [path]
    values = sorted(set(table.column(partition).to_pylist()))
    for value in values:
        part = table.filter(pa.compute.equal(table.column(partition), value)).drop_columns([partition])
        d = out_dir / f"{partition}={value}"
        d.mkdir(parents=True, exist_ok=True)
        path = d / "part-0.parquet"
        pq.write_table(part, path, compression="zstd")
        written.append(path)
    return written


def summarize(result: BatchResult) -> dict:
    statuses = Counter(f.status.value for f in result.files)
    forms = Counter(f.status.value for f in result.forms)
    return {
        "files": len(result.files),
        "files_by_status": dict(sorted(statuses.items())),
        "forms": len(result.forms),
        "forms_by_status": dict(sorted(forms.items())),
        "ignored_files": result.ignored_files,
        "skipped_links": result.skipped_links,
    }


def publish(result: BatchResult, releases_dir: Path, input_dir: Path | None = None,
            release_id: str | None = None) -> Path:
    """Write ``result`` as a new release under ``releases_dir`` and move ``latest`` to it."""
    releases_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    release_id = release_id or now.strftime("%Y%m%dT%H%M%S%fZ")
    final = releases_dir / release_id
    staging = releases_dir / f".staging-{release_id}"
    if final.exists():
        raise FileExistsError(f"release {release_id} exists already; releases are immutable")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        files_meta = []
        for name, (builder, partition) in TABLE_BUILDERS.items():
            table = builder(result)
            for path in write_table(table, staging / name, partition):
                files_meta.append({
                    "path": path.relative_to(staging).as_posix(),
                    "table": name,
                    "rows": pq.ParquetFile(path).metadata.num_rows,
                    "bytes": path.stat().st_size,
                    "sha256": _sha256(path),
                })
        run = {
            "release_id": release_id,
            "created_at": now.isoformat(),
            "input_dir": str(input_dir) if input_dir else None,
            "summary": summarize(result),
            "files": [f.model_dump(mode="json") for f in result.files],
        }
        (staging / "run.json").write_text(json.dumps(run, indent=1, ensure_ascii=False), "utf-8")
        # Full form records (readings, alternatives, registrations, corrections): what the review
        # loop and reruns start from. Not an analyst table; Parquet tables are.
        with open(staging / "records.jsonl", "w", encoding="utf-8") as fh:
            for form in sorted(result.forms, key=lambda f: (f.region_code, f.form_type.value)):
                fh.write(form.model_dump_json() + "\n")
        manifest = {
            "release_id": release_id,
            "schema_version": SCHEMA_VERSION,
            "pipeline_version": result.pipeline_version,
            "model_version": result.model_version,
            "files": files_meta,
            "inputs": [{"file": f.file, "sha256": f.sha256, "bytes": f.size} for f in result.files],
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1), "utf-8")
        _fsync_tree(staging)
        os.rename(staging, final)  # atomic on one filesystem: the release appears whole
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    point_latest(releases_dir, release_id)
    return final


def point_latest(releases_dir: Path, release_id: str) -> None:
    tmp = releases_dir / f".{LATEST}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(release_id, target_is_directory=True)
    os.replace(tmp, releases_dir / LATEST)


def latest_release(releases_dir: Path) -> Path | None:
    link = releases_dir / LATEST
    if link.is_symlink() or link.is_dir():
        target = link.resolve()
        return target if target.is_dir() else None
    return None


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
