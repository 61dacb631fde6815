"""Prefect wiring of the pipeline: plan -> chunks of files read in parallel -> validate -> publish.

Tasks work on chunks of files (not pages) so Prefect's per-task overhead stays small; every task
calls a plain function of extract/transform/load.

Where the work runs:
- on one machine (default), Prefect's thread runner tracks the chunk tasks and each hands its chunk
  to one process pool of ``--workers`` processes. Prefect's own ``ProcessPoolTaskRunner`` measured
  ~1.5 s of overhead per task on a 2-core machine (every task pays a process spawn and a Prefect
  import) against ~30 ms per task on the thread runner; the pool's processes start once per run
  and keep the digit model loaded.
- on a Dask cluster (``dask_address``), prefect-dask's runner sends the chunk tasks to the cluster's
  workers, which run the same plain function.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from extract.plan import BatchPlan, chunks, plan_batch
from extract.pool import reading_pool
from extract.process import process_chunk
from flows.pipeline import finish, reading_settings
from load.lineage import publish_from_parent, register_in_force
from schemas.records import BatchResult, FileOutcome, InputFile
from schemas.settings import Settings

# The CLI's progress bar, set in the flow's own process (callables are not flow parameters).
PROGRESS: Callable[[int, int, int], None] | None = None
# The run's worker processes (executors are not task parameters: Prefect hashes and records those).
_POOL: ProcessPoolExecutor | None = None


@task(name="plan-batch")
def plan_task(input_dir: str) -> BatchPlan:
    return plan_batch(Path(input_dir))


# No retries here: process_chunk never raises for a bad file (tool timeouts and internal errors come
# back as FAILED outcomes, are never cached, and are read again by the next run or `rerun_failed`).
# A retry is for the infrastructure: a worker process that died (OOM kill), a lost Dask worker.
#
# A worker that cannot open a file the planner read raises ``WorkerCannotOpen`` so the chunk is
# retried (in the same worker: a file put back, a network filesystem catching up); once the retries
# are spent, ``read_all`` takes the outcomes the error carries: those files end ``failed``, naming
# the path, and the rest of the batch is published.
@task(name="read-files", retries=2, retry_delay_seconds=1)
def read_chunk_task(items: list[InputFile], settings: Settings) -> list[FileOutcome]:
    from schemas.errors import WorkerCannotOpen
    from schemas.reasons import Reason

    if _POOL is None:
        res = process_chunk(items, settings)
    else:
        res = _POOL.submit(process_chunk, items, settings).result()
    lost = [o.file.path for o in res if o.failure is Reason.WORKER_CANNOT_OPEN]
    if lost:
        raise WorkerCannotOpen(lost, res)
    return res


@task(name="validate")
def validate_task(plan: BatchPlan, outcomes: list[FileOutcome], register_file: str | None) -> BatchResult:
    return finish(plan, outcomes, register_file)


@task(name="publish-release")
def publish_task(result: BatchResult, releases_dir: str, input_dir: str | None, register_file: str | None,
                 command: str = "run") -> str:
    return str(publish_from_parent(result, releases_dir, input_dir, command, register_file))


def batch_summary_rows(result: BatchResult) -> list[dict]:
    """Per kab/kota: files, verified, flagged, rejected, failed (the operators' table)."""
    groups: dict[str, Counter] = defaultdict(Counter)
    for f in result.files:
        groups[(f.region_code or "")[:4] or "unknown"][f.status.value] += 1
    rows = []
    for kab, c in sorted(groups.items()):
        rows.append({"kabkota_code": kab, "files": sum(c.values()), "verified": c["verified"],
                     "flagged": c["needs_review"], "rejected": c["rejected"], "failed": c["failed"]})
    return rows


def _runner(settings: Settings, dask_address: str | None):  # noqa: ANN202
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    # Two chunks in flight per process: one running, one queued, so no process idles.
    return ThreadPoolTaskRunner(max_workers=2 * max(1, settings.workers))


def read_all(plan: BatchPlan, settings: Settings, dask_address: str | None = None) -> list[FileOutcome]:
    """Submit every chunk, collect outcomes as they finish, report progress to the CLI and the UI."""
    from schemas.errors import WorkerCannotOpen

    global _POOL
    outcomes: list[FileOutcome] = list(plan.settled)
    pages = 0
    total = plan.total_files
    progress_id = create_progress_artifact(progress=0.0, key="digitize-progress",
                                           description="files read in this batch (%)")
    if PROGRESS:
        PROGRESS(len(outcomes), total, pages)
    parts = chunks(plan.items, _chunk_size(len(plan.items), settings))
    if not parts:
        return outcomes
    workers = max(1, settings.workers)
    _POOL = reading_pool(workers) if workers > 1 and not dask_address else None
    try:
        with _runner(settings, dask_address) as runner:
            futures = [runner.submit(read_chunk_task, parameters={"items": p, "settings": settings}) for p in parts]
            for fut in as_completed(futures):
                try:
                    res = fut.result()
                except WorkerCannotOpen as exc:  # retried already: the files are failed, the run goes on
                    res = exc.outcomes
                outcomes.extend(res)
                pages += sum(len(o.pages) + len(o.rejected_pages) for o in res)
                if PROGRESS:
                    PROGRESS(len(outcomes), total, pages)
                update_progress_artifact(progress_id, progress=100.0 * len(outcomes) / max(total, 1))
    finally:
        if _POOL is not None:
            _POOL.shutdown(cancel_futures=True)
        _POOL = None
    return outcomes


@flow(name="digitize-batch", log_prints=False)
def digitize_batch(input_dir: str, releases_dir: str, workers: int | None = None,
                   chunk_files: int | None = None, use_cache: bool = True,
                   dask_address: str | None = None, register_file: str | None = None,
                   command: str = "run") -> dict:
    """Read every form in ``input_dir`` and publish a release under ``releases_dir``, starting from
    the state of its latest release (``load.lineage``: corrections re-applied; its register when
    ``register_file`` is None).

    Finished files are kept in ``releases_dir/.cache``: after a crash (or on an unchanged batch)
    the same command reuses them and only reads what is left.
    """
    # Absolute here too: a deployment started from the Prefect UI passes what the operator typed.
    input_dir, releases_dir = os.path.abspath(input_dir), os.path.abspath(releases_dir)
    settings = Settings.from_env()
    if workers:
        settings.workers = workers
    if chunk_files:
        settings.chunk_files = chunk_files
    if use_cache:
        settings.cache_dir = str(Path(releases_dir) / ".cache")
    # The register file is read where it is used (validate, publish); its presence is enough here.
    register_file = register_in_force(releases_dir, register_file)
    settings = reading_settings(settings, register_file is not None)
    plan = plan_task(input_dir)
    if plan.total_files == 0:  # nothing to account for: no release, 'latest' stays where it is
        from schemas.errors import EmptyBatch

        raise EmptyBatch(input_dir, len(plan.ignored), len(plan.skipped_links))
    outcomes = read_all(plan, settings, dask_address)
    check_workers_saw(plan, outcomes)
    result = validate_task(plan, outcomes, register_file)
    release = publish_task(result, releases_dir, input_dir, register_file, command)
    rows = batch_summary_rows(result)
    create_table_artifact(table=rows, key="batch-summary",
                          description=f"pindai batch {input_dir}: files per kab/kota -> {release}")
    return {"release": release, "files": len(result.files)}


def check_workers_saw(plan: BatchPlan, outcomes: list[FileOutcome]) -> None:
    """Raise ``NothingCouldBeOpened`` when no worker could open any file to read: the workers do not
    see the batch, which is not a release to publish (some files lost: those are ``failed``)."""
    from schemas.errors import NothingCouldBeOpened
    from schemas.reasons import Reason

    lost = [o.file.path for o in outcomes if o.failure is Reason.WORKER_CANNOT_OPEN]
    if plan.items and len(lost) == len(plan.items):
        raise NothingCouldBeOpened(lost)


def _chunk_size(n_items: int, settings: Settings) -> int:
    # Enough chunks to keep every worker busy and the progress bar moving, few enough that
    # per-task overhead stays small.
    per_worker = max(1, n_items // max(1, settings.workers * 4))
    return max(1, min(settings.chunk_files, per_worker))
