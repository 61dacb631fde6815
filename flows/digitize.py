"""Prefect wiring of the pipeline: plan -> chunks in a process pool -> validate -> publish.

Tasks work on chunks of files (not pages) so Prefect's per-task overhead stays small; every task
calls a plain function of extract/transform/load.

Why tasks run on Prefect's thread runner and hand their chunk to one process pool: Prefect's
``ProcessPoolTaskRunner`` measured ~1.5 s of overhead per task on this 2-core machine (every task
pays a process spawn and a Prefect import), against ~30 ms per task on the thread runner. The
pool's processes start once per run and keep the digit model loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from prefect import flow, task
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from extract.plan import BatchPlan, chunks, plan_batch
from extract.process import process_chunk
from flows.pipeline import finish
from load.release import publish
from schemas.records import BatchResult, FileOutcome, InputFile
from schemas.settings import Settings

# The CLI's progress bar, set in the flow's own process (callables are not flow parameters).
PROGRESS: Callable[[int, int, int], None] | None = None
# The run's worker processes (executors are not task parameters: Prefect hashes and records those).
_POOL: ProcessPoolExecutor | None = None


@task(name="plan-batch")
def plan_task(input_dir: str) -> BatchPlan:
    return plan_batch(Path(input_dir))


@task(name="read-files")
def read_chunk_task(items: list[InputFile], settings: Settings) -> list[FileOutcome]:
    if _POOL is None:
        return process_chunk(items, settings)
    return _POOL.submit(process_chunk, items, settings).result()


@task(name="validate")
def validate_task(plan: BatchPlan, outcomes: list[FileOutcome]) -> BatchResult:
    return finish(plan, outcomes)


@task(name="publish-release")
def publish_task(result: BatchResult, releases_dir: str, input_dir: str) -> str:
    return str(publish(result, Path(releases_dir), Path(input_dir)))


@flow(name="digitize-batch", log_prints=False)
def digitize_batch(input_dir: str, releases_dir: str, workers: int | None = None,
                   chunk_files: int | None = None, use_cache: bool = True) -> dict:
    """Read every form in ``input_dir`` and publish a release under ``releases_dir``.

    Finished files are kept in ``releases_dir/.cache``: after a crash (or on an unchanged batch)
    the same command reuses them and only reads what is left.
    """
    settings = Settings.from_env()
    if use_cache:
        settings.cache_dir = str(Path(releases_dir) / ".cache")
    if workers:
        settings.workers = workers
    if chunk_files:
        settings.chunk_files = chunk_files
    plan = plan_task(input_dir)
    outcomes: list[FileOutcome] = list(plan.settled)
    pages = 0
    if PROGRESS:
        PROGRESS(len(outcomes), plan.total_files, pages)
    parts = chunks(plan.items, _chunk_size(len(plan.items), settings))
    if parts:
        global _POOL
        workers = max(1, settings.workers)
        _POOL = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            # Two chunks in flight per process: one running, one queued, so no process idles.
            with ThreadPoolTaskRunner(max_workers=2 * workers) as runner:
                futures = [runner.submit(read_chunk_task, parameters={"items": p, "settings": settings})
                           for p in parts]
                for fut in as_completed(futures):
                    res = fut.result()
                    outcomes.extend(res)
                    pages += sum(len(o.pages) + len(o.rejected_pages) for o in res)
                    if PROGRESS:
                        PROGRESS(len(outcomes), plan.total_files, pages)
        finally:
            if _POOL is not None:
                _POOL.shutdown(cancel_futures=True)
            _POOL = None
    result = validate_task(plan, outcomes)
    release = publish_task(result, releases_dir, input_dir)
    return {"release": release, "files": len(result.files)}


def _chunk_size(n_items: int, settings: Settings) -> int:
    # Enough chunks to keep every worker busy and the progress bar moving, few enough that
    # per-task overhead stays small.
    per_worker = max(1, n_items // max(1, settings.workers * 4))
    return max(1, min(settings.chunk_files, per_worker))
