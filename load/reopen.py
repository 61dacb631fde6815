"""Read a published release back into a ``BatchResult`` (forms, file statuses, versions): what
corrections and republishing start from. Releases themselves are never modified."""

from __future__ import annotations

import json
from pathlib import Path

from load.release import latest_release, read_manifest
from schemas.records import BatchResult, FileStatus, FormRecord


def resolve_release(path: Path) -> Path:
    """A release folder, or a releases folder (its ``latest``)."""
    path = Path(path)
    if (path / "manifest.json").exists():
        return path
    latest = latest_release(path)
    if latest is None:
        raise FileNotFoundError(f"no release at {path} (neither a release nor a releases folder with 'latest')")
    return latest


def read_result(release_dir: Path) -> BatchResult:
    release_dir = resolve_release(release_dir)
    manifest = read_manifest(release_dir)
    run = json.loads((release_dir / "run.json").read_text("utf-8"))
    with open(release_dir / "records.jsonl", encoding="utf-8") as fh:
        forms = [FormRecord.model_validate_json(line) for line in fh if line.strip()]
    files = [FileStatus.model_validate(f) for f in run.get("files", [])]
    summary = run.get("summary", {})
    return BatchResult(forms=forms, files=files, ignored_files=summary.get("ignored_files", []),
                       skipped_links=summary.get("skipped_links", []), warnings=run.get("warnings", []),
                       model_version=manifest.model_version or "", pipeline_version=manifest.pipeline_version or "")
