"""Release lineage: every release of a releases folder starts from its parent's state.

The state a release carries forward is (1) the stewards' decisions, the ledger ``corrections.jsonl``,
and (2) the TPS register in force (its copy ``register.json``). Whatever makes a new release (a new
batch, ``rerun-failed``, ``review apply``, the review app's publication) goes through here: it
re-applies the parent's ledger to its records (``transform.corrections.apply_ledger``, a pure
function), re-uses the parent's register when none is given, and records in the manifest what the
release was made from (``schemas.release.Lineage``). A command that would change nothing publishes
nothing and says so.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from load.catalogue import Release, open_latest
from load.release import new_release_id, publish
from load.tables import pseudonym
from schemas.learning import StoreReport
from schemas.records import BatchResult
from schemas.register import RegisterSource, load_register
from schemas.release import Command, LedgerEntry, LedgerSummary, Lineage
from transform.corrections import (
    CorrectionReport,
    apply_ledger,
    correction_report,
    is_noop,
    ledger_entries,
    read_corrections,
    rows_csv,
)
from transform.reconcile import with_cross_form_tables
from transform.validate import ValidationSettings, refresh_file_statuses

log = logging.getLogger(__name__)


def policy_version(settings: ValidationSettings | None = None) -> str:
    """A short hash of the verification policy: two releases judged under one policy share it."""
    text = repr(asdict(settings or ValidationSettings()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def register_in_force(releases_dir: Path | str, given: RegisterSource = None) -> RegisterSource:
    """The register a new release of ``releases_dir`` is made with: the one given, else the copy
    kept in the parent release (None when neither exists)."""
    if given is not None:
        return given
    parent = open_latest(releases_dir)
    if parent is None:
        return None
    path = parent.register_path
    return str(path) if path is not None else None


def carry_forward(result: BatchResult, parent: Release | None, register: RegisterSource = None,
                  new: list[LedgerEntry] | None = None) -> tuple[BatchResult, list[LedgerEntry], LedgerSummary]:
    """``result`` with the parent's ledger (then ``new``) applied, file statuses and cross-form
    tables following the corrected forms. Returns (result, ledger in force, its summary)."""
    ledger = [*(parent.ledger if parent is not None else []), *(new or [])]
    reg = load_register(register)
    forms, applied, missing = apply_ledger(result.forms, ledger, reg)
    summary = LedgerSummary(applied=applied, not_applied=missing, added=len(new or []),
                            reviewers=sorted({e.reviewer for e in new or []}),
                            added_from=(new[0].source if new else None))
    if not ledger:
        return result, ledger, summary
    out = result.model_copy(update={"forms": forms, "files": refresh_file_statuses(result.files, forms)})
    return with_cross_form_tables(out, reg), ledger, summary


def publish_from_parent(result: BatchResult, releases_dir: Path | str, input_dir: Path | str | None,
                        command: Command, register: RegisterSource = None,
                        provinces: list[str] | None = None, added: list[LedgerEntry] | None = None) -> Path:
    """Publish a freshly read (or republished) ``result`` as the next release of ``releases_dir``,
    starting from its parent's state. ``register``: as given by the operator (None: the parent's).
    ``added``: ledger entries to take on besides the parent's (those it has already are skipped)."""
    releases_dir = Path(releases_dir)
    parent = open_latest(releases_dir)
    reg = load_register(register_in_force(releases_dir, register))
    known = {e.model_dump_json() for e in parent.ledger} if parent is not None else set()
    added = [e for e in added or [] if e.model_dump_json() not in known]
    result, ledger, summary = carry_forward(result, parent, reg, added)
    lineage = Lineage(command=command, corrections=summary, policy_version=policy_version())
    # absolute: a later command run from another folder reads the same batch
    return publish(result, releases_dir, Path(input_dir).resolve() if input_dir else None, register=reg,
                   provinces=provinces, ledger=ledger, lineage=lineage, parent_id=parent.id if parent else None)


# --------------------------------------------------------------------------- corrections

class CorrectionsOutcome(BaseModel):
    """What ``publish_corrections`` did. ``published`` False: nothing changed, ``latest`` did not move."""

    published: bool
    release: str  # the new release folder, or the (unchanged) latest one
    base_release: str
    message: str
    report: CorrectionReport | None = None  # the rows that changed something
    noop_lines: list[int] = []  # rows deciding what is decided already
    reviewed: StoreReport | None = None  # the labelled crops stored for `pindai model update`


def publish_corrections(releases_dir: Path | str, corrections: Path | str | list[dict[str, str]],
                        reviewer_default: str = "steward", register: RegisterSource = None, *,
                        source: str | None = None, store_crops: bool = True) -> CorrectionsOutcome:
    """Apply stewards' corrections to the latest release of ``releases_dir`` and publish the result
    as its child; the ONE path of ``pindai review apply`` and of the review app's publication.

    ``corrections``: a corrections.csv path, or its rows (dicts with ``transform.corrections.COLUMNS``).
    The whole set is checked against the latest release first (``CorrectionsError``, nothing applied).
    Rows without a value and rows deciding what the field's last decision says already change
    nothing; when nothing is left, nothing is published. ``source``: what the ledger names as the
    decisions' origin (default: the CSV's file name). ``register``: None re-uses the parent's.
    """
    releases_dir = Path(releases_dir)
    parent = open_latest(releases_dir)
    if parent is None:
        from load.catalogue import CatalogueProblem, ReleaseNotFound

        raise ReleaseNotFound(CatalogueProblem.NO_RELEASES, releases_dir)
    if isinstance(corrections, list):
        path, text = Path(source or "decisions.csv"), rows_csv(corrections)
    else:
        path, text = Path(corrections), None
    records = parent.records
    entries, skipped = read_corrections(path, records, reviewer_default, text)
    by_key = {(f.region_code, f.form_type.value): f for f in records}
    effective = [e for e in entries if not is_noop(by_key[(e.region_code, e.form_type)], e)]
    noop = [e.line for e in entries if e not in effective]
    if not effective:
        why = (f"{len(noop)} row(s) decide what is decided already" if noop else "no row has a new_value")
        return CorrectionsOutcome(published=False, release=str(parent.path), base_release=parent.id, noop_lines=noop,
                                  message=f"nothing to apply ({why}); no release published, "
                                          f"latest is still {parent.id}")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    release_id = new_release_id()
    new = ledger_entries(effective, at, source or path.name, release_id, pseudonym)
    reg = load_register(register if register is not None else
                        (str(parent.register_path) if parent.register_path else None))
    result, ledger, summary = carry_forward(parent.result(), parent, reg, new)
    report = correction_report(records, result.forms, effective, skipped, source or str(path), at)
    lineage = Lineage(command="review-apply", corrections=summary, policy_version=policy_version())
    out = publish(result, releases_dir, parent.input_dir, release_id, register=reg, ledger=ledger, lineage=lineage,
                  parent_id=parent.id)
    stored = _store_crops(parent, result, report) if store_crops else None
    return CorrectionsOutcome(published=True, release=str(out), base_release=parent.id, report=report,
                              noop_lines=noop, reviewed=stored,
                              message=f"new release {out.name} (from {parent.id})")


def _store_crops(parent: Release, result: BatchResult, report: CorrectionReport) -> StoreReport:
    """The decided fields' box crops, labelled, into the reviewed-crop store (``pindai model update``
    learns from them). Never raises: publishing corrections must not depend on it."""
    from load import reviewed_store
    from schemas.learning import SkippedField, StoreSkip
    from schemas.settings import Settings
    from transform.reviewed import label_decisions

    settings = Settings.from_env()
    store = settings.learn.reviewed_dir
    try:
        fields, skipped = label_decisions(result.forms, report.applied, parent.input_dir, settings)
        return reviewed_store.append(store, fields, at=report.at, model_version=result.model_version,
                                     release_id=parent.id, held_out_every=settings.learn.held_out_every,
                                     skipped=skipped)
    except Exception as exc:  # noqa: BLE001
        log.exception("storing reviewed crops failed")
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        return StoreReport(store=str(store), skipped=[
            SkippedField(region_code=e.region_code, form_type=e.form_type, field_id=e.field_id,
                         reason=StoreSkip.INTERNAL_ERROR, detail=detail) for e in report.applied])

