"""Prefect wiring of the pipeline: plan -> chunks in a process pool -> validate -> publish.

Tasks work on chunks of files (not pages) so Prefect's per-task overhead stays small; every task
calls a plain function of extract/transform/load.
"""

from __future__ import annotations

import flows.env  # noqa: F401  (sets Prefect's environment before Prefect is imported)

from collections.abc import Callable
from pathlib import Path

from prefect import flow, task
from prefect.futures import as_completed
from prefect.task_runners import ProcessPoolTaskRunner

from extract.plan import BatchPlan, chunks, plan_batch
from extract.process import process_chunk
from flows.pipeline import finish
from load.release import publish
from schemas.records import BatchResult, FileOutcome, InputFile
from schemas.settings import Settings

# The CLI's progress bar, set in the flow's own process (callables are not flow parameters).
PROGRESS: Callable[[int, int, int], None] | None = None


@task(name="plan-batch")
def plan_task(input_dir: str) -> BatchPlan:
    return plan_batch(Path(input_dir))


@task(name="read-files")
def read_chunk_task(items: list[InputFile], settings: Settings) -> list[FileOutcome]:
    return process_chunk(items, settings)


@task(name="validate")
def validate_task(plan: BatchPlan, outcomes: list[FileOutcome]) -> BatchResult:
    return finish(plan, outcomes)


@task(name="publish-release")
def publish_task(result: BatchResult, releases_dir: str, input_dir: str) -> str:
    return str(publish(result, Path(releases_dir), Path(input_dir)))


@flow(name="digitize-batch", log_prints=False)
def digitize_batch(input_dir: str, releases_dir: str, workers: int | None = None,
                   chunk_files: int | None = None) -> dict:
    """Read every form in ``input_dir`` and publish a release under ``releases_dir``."""
    settings = Settings.from_env()
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
        with ProcessPoolTaskRunner(max_workers=max(1, settings.workers)) as runner:
            futures = [runner.submit(read_chunk_task, parameters={"items": p, "settings": settings})
                       for p in parts]
            for fut in as_completed(futures):
                res = fut.result()
                outcomes.extend(res)
                pages += sum(len(o.pages) + len(o.rejected_pages) for o in res)
                if PROGRESS:
                    PROGRESS(len(outcomes), plan.total_files, pages)
    result = validate_task(plan, outcomes)
    release = publish_task(result, releases_dir, input_dir)
    return {"release": release, "files": len(result.files)}


def _chunk_size(n_items: int, settings: Settings) -> int:
    # Enough chunks to keep every worker busy and the progress bar moving, few enough that
    # per-task overhead stays small.
    per_worker = max(1, n_items // max(1, settings.workers * 4))
    return max(1, min(settings.chunk_files, per_worker))
