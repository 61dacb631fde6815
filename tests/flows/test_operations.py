"""Operations: a Dask cluster runs the same flow; a run killed with SIGKILL resumes and gives the
same release as an uninterrupted run; no partial release is ever visible."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from flows.pipeline import run_pipeline
from schemas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _parquet_digests(release: Path) -> dict[str, str]:
    manifest = json.loads((release / "manifest.json").read_text())
    return {f["path"]: f["sha256"] for f in manifest["files"] if f["path"].endswith(".parquet")}


@pytest.fixture(scope="module")
def reference(small_batch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release of an uninterrupted plain (no Prefect, no cache) run."""
    settings = Settings(workers=1)
    _, release = run_pipeline(small_batch, tmp_path_factory.mktemp("ref"), settings)
    return release


def test_dask_cluster_gives_the_same_release(prefect_server, small_batch: Path, reference: Path,
                                             tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from flows.digitize import digitize_batch

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = digitize_batch(str(small_batch), str(tmp_path / "rel"), dask_address=cluster.scheduler_address,
                             use_cache=False)
    release = Path(res["release"])
    assert _parquet_digests(release) == _parquet_digests(reference)
    rows = ds.dataset(release / "files", format="parquet").to_table().num_rows
    assert rows == len(json.loads((reference / "run.json").read_text())["files"])


def test_kill_9_then_the_same_command_completes_with_the_same_release(small_batch: Path, reference: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "releases"
    cmd = [sys.executable, "-m", "flows.cli", "run", str(small_batch), "--out", str(out), "--workers", "2"]
    env = dict(os.environ, PINDAI_CHUNK_FILES="1")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = out / ".cache"
    deadline = time.monotonic() + 240
    try:
        # Kill once some, but not all, files are finished.
        while time.monotonic() < deadline and proc.poll() is None:
            if cache.exists() and sum(1 for _ in cache.rglob("*.json")) >= 2:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its worker processes and its Prefect server
        proc.wait()
    done_before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.json")}
    assert done_before, "the run was killed before it finished any file"
    # No partial release is ever visible: either nothing, or only complete releases.
    for rel in (p for p in out.iterdir() if not p.name.startswith(".") and p.name != "latest"):
        assert (rel / "manifest.json").exists()

    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    release = (out / "latest").resolve()
    assert _parquet_digests(release) == _parquet_digests(reference)
    # Finished work was reused, not redone.
    assert all(p.stat().st_mtime_ns == t for p, t in done_before.items())
