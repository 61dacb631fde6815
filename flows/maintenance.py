"""Flows for data stewards and operators after a batch: rerun what failed, apply corrections,
republish. Each is thin wiring over plain functions; none modifies a published release."""

from __future__ import annotations

import logging
from pathlib import Path

from prefect import flow

from flows.digitize import digitize_batch
from load.catalogue import open_release
from load.lineage import publish_corrections, publish_from_parent, register_in_force
from schemas.register import load_register
from schemas.settings import Settings
from transform.reconcile import with_cross_form_tables

log = logging.getLogger(__name__)


@flow(name="rerun-failed")
def rerun_failed(releases_dir: str, input_dir: str | None = None, workers: int | None = None,
                 register_file: str | None = None) -> dict:
    """Read the batch of the latest release again: every file that ended well is reused from the
    cache, so only files that failed (tool timeouts, crashes) and new files are read. The new
    release starts from the latest one's state (corrections, register). With nothing failed,
    nothing is read and nothing is published (``published`` False)."""
    parent = open_release(Path(releases_dir))
    failed_before = sum(1 for f in parent.run.files if f.status.value == "failed")
    if failed_before == 0:
        return {"release": str(parent.path), "published": False, "failed_before": 0}
    source = input_dir or parent.run.input_dir
    if not source:
        raise ValueError(f"{parent.path}/run.json does not say which input folder it read; pass input_dir")
    res = digitize_batch(source, releases_dir, workers=workers, register_file=register_file, command="rerun-failed")
    res["failed_before"] = failed_before
    res["published"] = True
    return res


@flow(name="apply-corrections")
def apply_corrections_flow(corrections_csv: str, releases_dir: str, reviewer: str = "steward",
                           register_file: str | None = None) -> dict:
    """Apply a steward's corrections.csv to the latest release and publish the result as a new
    release (``load.lineage.publish_corrections``); nothing is published when nothing changes.
    Source scans are never touched."""
    outcome = publish_corrections(Path(releases_dir), Path(corrections_csv), reviewer, register_file)
    return outcome.model_dump(mode="json")


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
    register = load_register(register_in_force(releases_dir, register_file))
    source = open_release(Path(source_release))
    result = with_cross_form_tables(source.result(), register)
    # the source's decisions become state here too: a later re-read of its files keeps them
    new = publish_from_parent(result, releases_dir, None, "publish", register, provinces, added=source.ledger)
    return {"release": str(new)}
