"""The pipeline without Prefect: plan -> process chunks in a process pool -> validate -> publish.

The Prefect flow (flows.digitize) wires the same functions; this plain version is what the flow's
overhead is measured against, and what tests of the core use.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path

from extract.plan import BatchPlan, chunks, plan_batch
from extract.pool import reading_pool
from extract.process import default_reader, process_chunk
from load.lineage import publish_from_parent, register_in_force
from schemas.records import BatchResult, FileOutcome
from schemas.register import RegisterSource, load_register
from schemas.settings import Settings
from schemas.version import pipeline_version
from transform.validate import build_result

Progress = Callable[[int, int, int], None]  # (files done, files total, pages done)


def model_version(models_dir: str | None = None) -> str:
    """The version of the model the reader uses (promoted current, else packaged): provenance."""
    return default_reader(models_dir).version


def process_plan(plan: BatchPlan, settings: Settings, progress: Progress | None = None) -> list[FileOutcome]:
    outcomes: list[FileOutcome] = list(plan.settled)
    total, pages = plan.total_files, 0
    if progress:
        progress(len(outcomes), total, pages)
    parts = chunks(plan.items, settings.chunk_files)

    def done(res: list[FileOutcome]) -> None:
        nonlocal pages
        outcomes.extend(res)
        pages += sum(len(o.pages) + len(o.rejected_pages) for o in res)
        if progress:
            progress(len(outcomes), total, pages)

    if settings.workers <= 1 or len(parts) <= 1:
        for p in parts:
            done(process_chunk(p, settings))
        return outcomes
    with reading_pool(settings.workers) as pool:
        for fut in as_completed([pool.submit(process_chunk, p, settings) for p in parts]):
            done(fut.result())
    return outcomes


def finish(plan: BatchPlan, outcomes: list[FileOutcome], register: RegisterSource = None,
           models_dir: str | None = None) -> BatchResult:
    result = build_result(outcomes, model_version(models_dir), pipeline_version(), plan.ignored, plan.skipped_links,
                          register=load_register(register))
    result.warnings = list(plan.warnings)
    return result


def reading_settings(settings: Settings, names: bool) -> Settings:
    """``settings`` for the read stage of a batch: the printed header's kecamatan and desa names are
    read only when the batch is validated with a register (``names``) to compare them with."""
    if names == settings.read.header_names:
        return settings
    return settings.model_copy(update={"read": settings.read.model_copy(update={"header_names": names})})


def run_pipeline(input_dir: Path, releases_dir: Path, settings: Settings | None = None,
                 progress: Progress | None = None, register: RegisterSource = None) -> tuple[BatchResult, Path]:
    # read once, for validation and for the release; none given: the latest release's
    register = load_register(register_in_force(releases_dir, register))
    settings = reading_settings(settings or Settings.from_env(), register is not None and bool(register.id2name))
    plan = plan_batch(input_dir)
    if plan.total_files == 0:  # nothing to account for: no release
        from schemas.errors import EmptyBatch

        raise EmptyBatch(str(plan.root), len(plan.ignored), len(plan.skipped_links))
    outcomes = process_plan(plan, settings, progress)
    result = finish(plan, outcomes, register, settings.learn.models_dir)
    return result, publish_from_parent(result, releases_dir, input_dir, "run", register)
