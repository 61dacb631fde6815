"""Decide each form's status from its readings and its arithmetic, and each file's from its form.

``verified`` needs: every page present and registered, every digit confidently read, bubbles
agreeing where present, and every hard rule holding. Anything else is ``needs_review`` with every
reason; a form whose confident readings break a rule keeps the numbers as written (flagged, never
silently fixed).
"""

from __future__ import annotations

from schemas.layout import FormType, load_layout
from schemas.reasons import Reason, Status
from schemas.records import BatchResult, FieldReading, FileOutcome, FileStatus, FormRecord
from transform.assemble import FormDraft, assemble, settle_duplicates
from transform.rules import evaluate

_FAILED = {Reason.TOOL_TIMEOUT, Reason.TOOL_ERROR, Reason.INTERNAL_ERROR}


def validate_form(draft: FormDraft) -> FormRecord:
    layout = load_layout(draft.form_type)
    reasons: list[Reason] = list(draft.reasons)
    readings: list[FieldReading] = []
    pages = []
    for page in layout.pages:
        scans = draft.pages.get(page.page)
        if not scans:
            if Reason.MISSING_PAGE not in reasons:
                reasons.append(Reason.MISSING_PAGE)
            continue
        best, conflict = settle_duplicates(scans)
        if conflict and Reason.DUPLICATE_PAGE_CONFLICT not in reasons:
            reasons.append(Reason.DUPLICATE_PAGE_CONFLICT)
        pages.append(best)
        readings.extend(best.fields)

    values: dict[str, int | None] = {fid: None for fid in layout.field_ids()}
    for r in readings:
        values[r.field_id] = r.value
    max_values = {f.id: f.max_value for p in layout.pages for f in p.fields}
    issues = evaluate(values, layout.field_ids(), max_values)

    read_ids = {r.field_id for r in readings}
    unsure = [r for r in readings if r.unsure or r.malformed]
    if unsure:
        reasons.append(Reason.UNSURE_DIGITS)
    if any(r.bubble_value is not None and r.bubble_confident and r.bubble_value != r.value for r in readings):
        reasons.append(Reason.BUBBLES_DISAGREE)
    # R10 on a field of a missing page is already explained by MISSING_PAGE.
    hard = [i for i in issues if i.severity == "hard" and not (i.rule_id == "R10" and i.fields[0] not in read_ids)]
    if hard:
        reasons.append(Reason.RULE_BROKEN)
    status = Status.VERIFIED if not reasons else Status.NEEDS_REVIEW
    confidences = [r.confidence for r in readings]
    return FormRecord(
        region_code=draft.region_code, form_type=draft.form_type, status=status, reasons=reasons,
        values=values, readings=readings, issues=issues, files=draft.files, pages=pages,
        min_confidence=min(confidences) if confidences else None,
    )


def file_status(oc: FileOutcome, forms: dict[tuple[str, FormType], FormRecord]) -> FileStatus:
    f = oc.file
    ident = f.identity
    base = dict(file=f.rel_path, sha256=f.sha256, size=f.size, pages=len(oc.pages) + len(oc.rejected_pages),
                region_code=ident.region_code if ident else None, form_type=ident.form_type if ident else None)
    if oc.failure is not None:
        status = Status.FAILED if oc.failure in _FAILED else Status.REJECTED
        return FileStatus(status=status, reasons=[oc.failure], detail=oc.detail or oc.failure.message, **base)
    if not oc.pages:
        reasons = list(dict.fromkeys(r.reason for r in oc.rejected_pages)) or [Reason.BLANK_PAGE]
        detail = "; ".join(f"page {r.page_index + 1}: {r.reason.message}" for r in oc.rejected_pages)
        return FileStatus(status=Status.REJECTED, reasons=reasons, detail=detail, **base)
    assert ident is not None
    form = forms[(ident.region_code, ident.form_type)]
    reasons = list(form.reasons) + [r.reason for r in oc.rejected_pages]
    detail = "; ".join(r.message for r in dict.fromkeys(reasons))
    return FileStatus(status=form.status, reasons=list(dict.fromkeys(reasons)), detail=detail, **base)


def validate_batch(outcomes: list[FileOutcome]) -> tuple[list[FormRecord], list[FileStatus]]:
    drafts = assemble(outcomes)
    forms = {key: validate_form(d) for key, d in drafts.items()}
    files = [file_status(oc, forms) for oc in sorted(outcomes, key=lambda o: o.file.rel_path)]
    return list(forms.values()), files


def build_result(outcomes: list[FileOutcome], model_version: str, pipeline_version: str,
                 ignored: list[str] | None = None, skipped_links: list[str] | None = None) -> BatchResult:
    forms, files = validate_batch(outcomes)
    return BatchResult(forms=forms, files=files, ignored_files=ignored or [], skipped_links=skipped_links or [],
                       model_version=model_version, pipeline_version=pipeline_version)
