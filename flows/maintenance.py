"""Flows for data stewards and operators after a batch: rerun what failed, apply corrections,
republish. Each is thin wiring over plain functions; none modifies a published release."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.digitize import digitize_batch
from load import reviewed_store
from load.release import publish
from load.reopen import read_result, resolve_release
from schemas.learning import SkippedField, StoreReport, StoreSkip
from schemas.records import BatchResult
from schemas.register import load_register
from schemas.settings import Settings
from transform.corrections import CorrectionReport, apply_corrections
from transform.reconcile import with_cross_form_tables
from transform.reviewed import label_decisions
from transform.validate import refresh_file_statuses

log = logging.getLogger(__name__)


@flow(name="rerun-failed")
def rerun_failed(releases_dir: str, input_dir: str | None = None, workers: int | None = None,
                 register_file: str | None = None) -> dict:
    """Read the batch of the latest release again: every file that ended well is reused from the
    cache, so only files that failed (tool timeouts, crashes) and new files are read."""
    release = resolve_release(Path(releases_dir))
    run = json.loads((release / "run.json").read_text("utf-8"))
    source = input_dir or run.get("input_dir")
    if not source:
        raise ValueError(f"{release}/run.json does not say which input folder it read; pass input_dir")
    failed_before = sum(1 for f in run.get("files", []) if f["status"] == "failed")
    res = digitize_batch(source, releases_dir, workers=workers, register_file=register_file)
    res["failed_before"] = failed_before
    return res


@task(name="apply-corrections")
def _apply_task(release: str, corrections_csv: str, reviewer: str, register_file: str | None):  # noqa: ANN202
    result = read_result(Path(release))
    register = load_register(register_file)
    forms, report = apply_corrections(result.forms, Path(corrections_csv), reviewer, register=register)
    result.forms = forms
    result.files = refresh_file_statuses(result.files, forms)
    # Reconciliation and coverage follow the corrected forms.
    return with_cross_form_tables(result, register), report


@task(name="store-reviewed-crops", cache_policy=NO_CACHE)
def _store_task(release: str, result: BatchResult, report: CorrectionReport, source_root: str | None) -> StoreReport:
    """The decided fields' box crops, labelled, into the reviewed-crop store (``pindai model update``
    learns from them). Never raises: applying corrections must not depend on it."""
    settings = Settings.from_env()
    store = settings.learn.reviewed_dir
    try:
        fields, skipped = label_decisions(result.forms, report.applied, Path(source_root) if source_root else None,
                                          settings)
        return reviewed_store.append(store, fields, at=report.at, model_version=result.model_version,
                                     release_id=Path(release).name, held_out_every=settings.learn.held_out_every,
                                     skipped=skipped)
    except Exception as exc:  # noqa: BLE001
        log.exception("storing reviewed crops failed")
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        return StoreReport(store=store, skipped=[SkippedField(region_code=e.region_code, form_type=e.form_type,
                                                              field_id=e.field_id, reason=StoreSkip.INTERNAL_ERROR,
                                                              detail=detail) for e in report.applied])


@flow(name="apply-corrections")
def apply_corrections_flow(corrections_csv: str, releases_dir: str, reviewer: str = "steward",
                           register_file: str | None = None) -> dict:
    """Apply a steward's corrections.csv to the latest release and publish the result as a new
    release (the audit trail travels in its provenance table). Source scans are never touched."""
    release = resolve_release(Path(releases_dir))
    result, report = _apply_task(str(release), corrections_csv, reviewer, register_file)
    run = json.loads((release / "run.json").read_text("utf-8"))
    new = publish(result, Path(releases_dir), Path(run["input_dir"]) if run.get("input_dir") else None,
                  register=register_file)
    report = CorrectionReport.model_validate(report)
    stored = _store_task(str(release), result, report, run.get("input_dir"))
    return {"release": str(new), "report": report.model_dump(mode="json"),
            "reviewed": StoreReport.model_validate(stored).model_dump(mode="json")}


@flow(name="update-digit-model")
def update_digit_model(samples: int = 40_000, minutes: float | None = None, seed: int = 0) -> dict:
    """Fine-tune the digit reader on the stewards' reviewed crops and promote it only when it is better
    (``training.update``; needs the ``train`` extra). Returns the comparison report."""
    from training.update import UpdateOptions, update_model

    learn = Settings.from_env().learn
    opts = UpdateOptions(samples=samples, minutes=minutes, seed=seed)
    return update_model(learn.reviewed_dir, learn.models_dir, opts)


@flow(name="publish-release")
def publish_release(source_release: str, releases_dir: str, provinces: list[str] | None = None,
                    register_file: str | None = None) -> dict:
    """Publish the forms of an existing release (e.g. another operator's batch) into ``releases_dir``;
    with ``provinces``, only those provinces, carrying every other province of the current release over."""
    result = with_cross_form_tables(read_result(Path(source_release)), load_register(register_file))
    new = publish(result, Path(releases_dir), None, register=register_file, provinces=provinces)
    return {"release": str(new)}
