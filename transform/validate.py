"""Decide each form's status from its readings and its arithmetic, and each file's from its form.

Statuses (FORMS.md's bar: never publish a wrong number as verified):

- ``verified``: every page present and registered, the printed header agrees with the identity,
  repeated scans agree, every hard rule (and the flagging soft rules R5S.gap, R13) holds, bubbles
  agree where confidently read, and every digit was read confidently -- or the unsure ones were
  settled:
  * ``auto_confirmed``: the reader's own reading of the unsure digits is the unique reading that
    satisfies the rules (``transform.decode_arith``). Verified: to be wrong the reader would have to
    misread *and* the officer have made a mistake that the misreading exactly compensates. That
    does happen (1 form in a stress batch of 2,000 with 1,151 mistakes), so a settled field that
    another of its readings would take out of a broken soft rule stays unsure (``_soft_doubts``).
  * ``steward_corrected``: a data steward corrected or confirmed the fields (``transform.corrections``).
  * ``auto_corrected``: the arithmetic *changed* unsure digits (unique solution, only unsure boxes
    changed). Verified only when every changed box took a symbol the reader itself gave at least
    ``auto_verify_min_p`` (default 0.1; measured, see ``ValidationSettings``) on a form whose soft
    rules all hold, or when the field's
    blackened bubbles, confidently read, give the corrected number (two independent readings of
    the paper agree, and the arithmetic a third), or when the hard equations imply the new value
    even with any one of them left out (``_pinned``: a B.1-B.4 cell, in its row and its column). A long shot can be an
    officer's mistake "absorbed" by the change: with digits-v2 on 500 simulated forms, 1 of 239
    automatic corrections published a number that differs from the paper, and its new digit had
    p = 0.033; none of the 184 at p >= 0.1 was wrong. Below the bar the corrected values are
    published and the form is flagged for a quick confirmation. The reason stays on the form, so
    a corrected form is always distinguishable from one read cleanly.
  Reasons keep what happened, so ``reasons == []`` means "read cleanly"; ``corrections`` is the
  audit trail (confirmations are Corrections with ``old == new``).
- ``needs_review``: anything else, with every reason. A confident reading that breaks a rule keeps
  the numbers as written (officers make mistakes too): flagged, never silently fixed.
- ``rejected``: nothing on the form could be read (every field empty and nothing unsure), or the
  printed header of every page names another polling station than the file does.

``judge`` recomputes values, issues, reasons and status from the readings and the corrections; the
first validation and the stewards' corrections (``transform.corrections``) both go through it.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from schemas.layout import FormType, load_layout
from schemas.reasons import Reason, Status
from schemas.records import (
    BatchResult,
    Correction,
    FieldReading,
    FileOutcome,
    FileStatus,
    FormRecord,
    PageReading,
    RuleResult,
)
from schemas.register import RegisterSource, load_register
from transform.assemble import FormDraft, assemble
from transform.decode_arith import ArithResult, ArithSettings, confident_bubbles, is_unsure, solve
from transform.reconcile import cross_form_issues, with_cross_form_tables
from transform.rules import (
    HARD,
    SOFT,
    Rule,
    bubble_results,
    checkable,
    evaluate,
    is_flagging,
    rules_for,
    scan_agreement_results,
)

_FAILED = {Reason.TOOL_TIMEOUT, Reason.TOOL_ERROR, Reason.INTERNAL_ERROR, Reason.WORKER_CANNOT_OPEN}
# Issues that come from outside the form's values (scans, header, other forms): kept by ``judge``.
_KEPT_PREFIXES = ("R12", "R13", "R14.recap", "ID.")
_SETTLED = {Reason.AUTO_CONFIRMED, Reason.STEWARD_CORRECTED}
_ORDER = list(Reason)


@dataclass(frozen=True)
class ValidationSettings:
    arith: ArithSettings = field(default_factory=ArithSettings)
    # A form whose unsure digits the arithmetic changed may be verified when each new digit had at
    # least this probability (None: never; 0.0: always; below the arithmetic's candidate floor,
    # ``ArithSettings.box_floor`` = 0.02, it changes nothing). Measured with `pindai eval
    # --auto-verify-min-p` (docs/VERIFICATION_POLICY.md): 0.02 absorbed 2 officer slips in 6,000
    # stress forms with the reader before the test-time shifts; with the shifts, none in 7,000 forms
    # and three fresh batches, so session 9 lowered the floor to 0.02. A fourth fresh batch
    # (stress-937, 1,000 scans, half with slips) then absorbed 2: "174" where the sums want 179
    # (the 9 at p 0.063) and "187" for 182 (the 2 at p 0.046), each a one-equation change on a form
    # whose soft rules all hold. 0.1 has let no slip through on any batch measured (about 11,000
    # forms), and costs about 6 points of consistent scans verified (90.4% -> 84.0% on eval1000v).
    # A new reader must be measured again.
    auto_verify_min_p: float | None = 0.1
    # ... or when the hard equations imply the new value even with any one of them left out.
    auto_verify_redundant: bool = True
    # ... and, for a change that rests on one equation, only on a form whose soft rules all hold.
    auto_verify_clean_context: bool = True
    # A redundantly implied change still needs this much probability for its new digit (None: the
    # arithmetic's candidate floor, ``ArithSettings.box_floor``). See ``_pinned``. Where the floor
    # above already trusts a change (a form whose soft rules all hold), this one adds nothing.
    auto_verify_pinned_min_p: float | None = 0.05
    name_similarity: float = 0.5  # printed header name vs register name: below this is a mismatch
    # Registrations scoring below this (marks missing, poor fit) keep a form from being verified.
    min_registration_score: float = 0.3


def _norm(text: str) -> str:
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    t = re.sub(r"^(kel(urahan)?|desa|kec(amatan)?|kab(upaten)?|kota|prov(insi)?)\.?\s+", "", t.strip())
    return re.sub(r"[^a-z0-9]+", " ", t).strip()


def identity_results(page: PageReading, region_code: str, id2name: dict[str, str] | None = None,
                     min_similarity: float = 0.5) -> list[RuleResult]:
    """The printed header (read by OCR) against the identity from the file name or manifest: the TPS
    number always, the desa and kecamatan names when a register is given. Empty OCR says nothing."""
    out = []
    h = page.header_text
    p = page.registration.page

    def issue(what: str, expected: str, found: str) -> RuleResult:
        return RuleResult(rule_id=f"ID.{what}", severity=HARD, fields=[], expected=None, found=None,
                          message_id=f"Halaman {p}: kop formulir menyebut {what} '{found}', "
                                     f"bukan '{expected}'",
                          message_en=f"Page {p}: the printed header names {what} '{found}', not '{expected}'")

    digits = re.sub(r"\D", "", h.get("tps_number", ""))
    # Only a reading as long as the code's own (TPS numbers print zero-padded, "007"): a shorter
    # one is far more often a dropped digit ("023" read as "03") than another TPS.
    if len(region_code) == 13 and len(digits) == len(region_code[10:]) and int(digits) != int(region_code[10:]):
        out.append(issue("tps_number", region_code[10:], h["tps_number"].strip()))
    if id2name:
        for key, code in (("desa", region_code[:10]), ("kecamatan", region_code[:6])):
            text, name = _norm(h.get(key, "")), id2name.get(code)
            if len(text) < 3 or not name or (key == "desa" and len(region_code) != 13):
                continue
            if difflib.SequenceMatcher(None, text, _norm(name)).ratio() < min_similarity:
                out.append(issue(key, name, h[key].strip()))
    return out


def _kept(issue: RuleResult) -> bool:
    return issue.rule_id.startswith(_KEPT_PREFIXES)


def _sorted_reasons(reasons: set[Reason]) -> list[Reason]:
    return sorted(reasons, key=_ORDER.index)


def judge(form: FormRecord, settings: ValidationSettings | None = None) -> FormRecord:
    """Values, issues, reasons and status of ``form`` from its readings, its steward corrections and
    the issues that do not come from its values (R12 scans, ID header, R13/R14 across forms).

    Automatic corrections and suggestions are recomputed (the arithmetic runs again, with steward
    corrections as confident values); steward corrections are applied in order and kept.
    """
    settings = settings or ValidationSettings()
    layout = load_layout(form.form_type)
    ids = layout.field_ids()
    max_values = {f.id: f.max_value for p in layout.pages for f in p.fields}
    steward = [c for c in form.corrections if c.by != "auto"]
    steward_fields = {c.field_id for c in steward}

    values: dict[str, int | None] = {fid: None for fid in ids}
    for r in form.readings:
        values[r.field_id] = r.value
    for c in steward:
        values[c.field_id] = c.new
    open_readings = [r for r in form.readings if r.field_id not in steward_fields]
    rules = rules_for(ids)
    arith = solve(open_readings, values, ids, rules, settings.arith)
    values = arith.values

    read_ids = {r.field_id for r in form.readings} | steward_fields
    issues = [i for i in evaluate(values, ids, max_values)
              if not (i.rule_id == "R10" and i.fields[0] not in read_ids)]  # missing page says it already
    issues += bubble_results([r for r in form.readings if r.field_id not in steward_fields], values)
    issues += [i for i in form.issues if _kept(i) and not (i.fields and set(i.fields) <= steward_fields)]

    reasons = {r for r in form.reasons if r in (Reason.MISSING_PAGE, Reason.IDENTITY_MISMATCH)}
    # A page placed by its tag alone (corner marks hidden or cut off) can put boxes a few points
    # off: its readings are not trusted as verified, whatever the digits say.
    if any(p.registration.method == "tag" or p.registration.score < settings.min_registration_score
           for p in form.pages):
        reasons.add(Reason.WEAK_REGISTRATION)
    if any(i.rule_id == "R12" for i in issues):
        reasons.add(Reason.DUPLICATE_PAGE_CONFLICT)
    if any(i.rule_id.startswith("ID.") for i in issues):
        reasons.add(Reason.IDENTITY_MISMATCH)
    doubted = _soft_doubts(arith, ids, issues, rules)
    if any(is_unsure(r) and (r.field_id not in arith.resolved or r.field_id in doubted) for r in open_readings):
        reasons.add(Reason.UNSURE_DIGITS)
    if any(c.old != c.new for c in arith.corrections):
        reasons.add(Reason.AUTO_CORRECTED)
    if any(c.old == c.new for c in arith.corrections):
        reasons.add(Reason.AUTO_CONFIRMED)
    if steward:
        reasons.add(Reason.STEWARD_CORRECTED)
    if any(i.rule_id.startswith("R11") for i in issues):
        reasons.add(Reason.BUBBLES_DISAGREE)
    if any(is_flagging(i) and not i.rule_id.startswith(("R12", "ID.")) for i in issues):
        reasons.add(Reason.RULE_BROKEN)

    changes = [c for c in arith.corrections if c.old != c.new]
    by_field = {r.field_id: r for r in open_readings}
    pinned = _pinned(changes, values, ids, rules, settings.auto_verify_redundant)
    # A change the field's bubbles, confidently read, agree with is no long shot: two independent
    # readings of the paper agree, and the arithmetic a third. Nor is one the equations imply
    # redundantly (``_pinned``).
    # A change resting on one equation, even to a strong runner-up, is trusted only on a form whose
    # soft rules all hold: a fresh stress batch (1,000 scans, 586 officer mistakes) verified two such
    # changes that had absorbed an officer's slip (II.1 written 177 for 172, read 177 at p 0.81 and
    # "corrected" to 172 at p 0.18; A total written 259 for 265, absorbed by changing A L at
    # p 0.21), and both forms broke a soft rule (R5S, R7.reserve) that a clean form keeps.
    clean = not (settings.auto_verify_clean_context and any(i.severity == SOFT for i in issues))
    trusted = settings.auto_verify_min_p is not None and all(
        ((c.box_probability if c.box_probability is not None else 0.0) >= settings.auto_verify_min_p and clean)
        or (c.new is not None and c.new == confident_bubbles(by_field.get(c.field_id)))
        or (c.field_id in pinned and (c.box_probability if c.box_probability is not None else 0.0)
            >= (settings.auto_verify_pinned_min_p or 0.0)) for c in changes)
    settled = _SETTLED | {Reason.AUTO_CORRECTED} if trusted else _SETTLED
    id_pages = {i.message_en.split(":")[0] for i in issues if i.rule_id.startswith("ID.")}  # "Page N"
    nothing_read = all(v is None for v in values.values()) and not any(is_unsure(r) for r in form.readings)
    if not form.readings or nothing_read or (form.pages and len(id_pages) == len(form.pages)
                                            and not steward):
        status = Status.REJECTED
    elif reasons <= settled:
        status = Status.VERIFIED
    else:
        status = Status.NEEDS_REVIEW
    confidences = [r.confidence for r in form.readings]
    return form.model_copy(update=dict(
        status=status, reasons=_sorted_reasons(reasons), values=values, issues=issues,
        corrections=[*arith.corrections, *steward], suggestions=arith.suggestions,
        min_confidence=min(confidences) if confidences else None))


def _pinned(changes: list[Correction], values: dict[str, int | None], ids: list[str], rules: list[Rule],
            redundant: bool) -> set[str]:
    """Changed fields whose new value the form's equations imply even with any one of them left out.

    The equations are the hard sum rules that hold after the change and involve a changed field;
    the changed fields are the unknowns, everything else is as read. A field is pinned when, for
    every equation dropped in turn, the rest still determine it (its unit vector lies in the span
    of their coefficient rows): a B.1-B.4 cell is in its row (L + P = total) and its column
    (B.4 = B.1 + B.2 + B.3); two cells of one row that both changed are each pinned by their
    columns and cross-checked by the row.

    A long-shot correction is dangerous where the change absorbs a mistake made elsewhere (an
    officer's slip, or another box read confidently and wrongly): with one equation, any field in
    it can absorb it. A redundantly determined field can only absorb a slip made in that very
    field, which the reader sees written plainly: the number the sums want then needs a digit the
    reader gave at least ``ArithSettings.box_floor``. Measured: of 175 corrections below the
    probability bar in a stress batch of 2,000 scans with 1,151 officer mistakes, 48 were pinned by
    two equations and all 48 gave the paper's number; the 6 that did not were all in fields with
    one equation (II.1-II.4, A). Reaching further in such fields (candidate digits down to p 0.002
    instead of 0.02) was tried and dropped: a fresh stress batch had a slip "119" for 111 whose
    9, itself misread as 7, gave the 1 p 0.008, and the form was verified with the slip absorbed.
    "Written plainly" is not enough at p 0.02 either: another fresh batch (seed 921) had B.4 L
    written "99" where the sums want 93, its last 9 read at p 0.93 with 3 at p 0.03, and the slip
    was absorbed. So a pinned change still needs ``ValidationSettings.auto_verify_pinned_min_p``
    (0.05) for its new digit: that cost 6 of 329 consistent scans verified on the 1,000-form batch,
    and left no silent error on the four stress batches (5,000 forms, about half with mistakes)."""
    if not redundant or not changes:
        return set()
    changed = sorted({c.field_id for c in changes})
    col = {f: i for i, f in enumerate(changed)}
    present = checkable(values, ids)
    rows = []
    for r in rules:
        if (r.severity == HARD and r.kind == "sum" and col.keys() & set(r.fields)
                and all(x in present for x in r.fields) and r.check(present) is None):
            row = np.zeros(len(changed))
            for k, x in enumerate(r.fields):  # fields[0] = sum(fields[1:])
                if x in col:
                    row[col[x]] += 1.0 if k == 0 else -1.0
            rows.append(row)
    if len(rows) < 2:
        return set()
    eqs = np.array(rows)

    def implied(m: np.ndarray, f: int) -> bool:
        unit = np.zeros(len(changed))
        unit[f] = 1.0
        return np.linalg.matrix_rank(np.vstack([m, unit])) == np.linalg.matrix_rank(m)

    return {f for f, i in col.items()
            if all(implied(np.delete(eqs, k, axis=0), i) for k in range(len(eqs)))}


def _soft_doubts(arith: ArithResult, ids: list[str], issues: list[RuleResult], rules: list[Rule]) -> set[str]:
    """Unsure fields the arithmetic settled, another reading of which would mend a broken soft rule.

    The hard rules alone can be met by a misreading that exactly compensates an officer's mistake:
    in a stress batch of 2,000 scans, half with mistakes, II.1 was written 270 for 272 and II.2's
    "215" read 213 (p 0.58, 215 at 0.42). R6 held with 213, so 213 was "confirmed" and the form
    verified wrong; yet 215 would have met R5S (V.C = B.4 = II.2), which 213 broke. Such a field is
    not settled. A soft rule broken whatever the field reads (an incident: V.C differs from B.4 on
    the paper) casts no doubt on it."""
    broken = {i.rule_id for i in issues if i.severity == SOFT}
    if not broken or not arith.resolved:
        return set()
    present = checkable(arith.values, ids)
    out: set[str] = set()
    for rule in rules:
        if rule.id not in broken:
            continue
        for f in rule.fields:
            if f not in arith.resolved or f in out or f not in present:
                continue
            for c in arith.candidates.get(f, []):  # the readings the search weighed
                v = 0 if c.value is None else c.value
                if v == present[f]:
                    continue
                trial = {**present, f: v}
                if all(x in trial for x in rule.fields) and rule.check(trial) is None:
                    out.add(f)
                    break
    return out


def _scan_rank(p: PageReading) -> tuple:
    unsure = sum(1 for f in p.fields if is_unsure(f))
    return (-unsure, p.registration.score, -len(p.file), p.file)


def validate_form(draft: FormDraft, id2name: dict[str, str] | None = None,
                  settings: ValidationSettings | None = None) -> FormRecord:
    settings = settings or ValidationSettings()
    layout = load_layout(draft.form_type)
    reasons: list[Reason] = list(draft.reasons)
    readings: list[FieldReading] = []
    pages: list[PageReading] = []
    issues: list[RuleResult] = []
    for page in layout.pages:
        scans = draft.pages.get(page.page)
        if not scans:
            if Reason.MISSING_PAGE not in reasons:
                reasons.append(Reason.MISSING_PAGE)
            continue
        # Several scans of one page: read the one with fewest unsure fields, best registered;
        # R12 compares the fields every scan read confidently.
        ranked = sorted(scans, key=_scan_rank, reverse=True)
        best = ranked[0]
        issues += scan_agreement_results(page.page, best.fields, [s.fields for s in ranked[1:]])
        issues += identity_results(best, draft.region_code, id2name, settings.name_similarity)
        pages.append(best)
        readings.extend(best.fields)
    record = FormRecord(region_code=draft.region_code, form_type=draft.form_type, status=Status.NEEDS_REVIEW,
                        reasons=reasons, values={}, readings=readings, issues=issues, files=draft.files,
                        pages=pages)
    return judge(record, settings)


def file_status(oc: FileOutcome, forms: dict[tuple[str, FormType], FormRecord]) -> FileStatus:
    f = oc.file
    ident = f.identity
    base = dict(file=f.rel_path, sha256=f.sha256, size=f.size, pages=len(oc.pages) + len(oc.rejected_pages),
                region_code=ident.region_code if ident else None,
                form_type=ident.form_type if ident else None)
    if oc.failure is not None:
        status = Status.FAILED if oc.failure in _FAILED else Status.REJECTED
        return FileStatus(status=status, reasons=[oc.failure], detail=oc.detail or oc.failure.message, **base)
    if not oc.pages:
        reasons = list(dict.fromkeys(r.reason for r in oc.rejected_pages)) or [Reason.BLANK_PAGE]
        detail = "; ".join([*(f"page {r.page_index + 1}: {r.reason.message}" for r in oc.rejected_pages),
                            *([oc.detail] if oc.detail else [])])  # the decoders' warnings, if any
        return FileStatus(status=Status.REJECTED, reasons=reasons, detail=detail, **base)
    assert ident is not None
    form = forms[(ident.region_code, ident.form_type)]
    reasons = list(form.reasons) + [r.reason for r in oc.rejected_pages]
    detail = "; ".join([*(r.message for r in dict.fromkeys(reasons)), *([oc.detail] if oc.detail else [])])
    return FileStatus(status=form.status, reasons=list(dict.fromkeys(reasons)), detail=detail, **base)


def cross_form_checks(forms: list[FormRecord], register: RegisterSource = None,
                      settings: ValidationSettings | None = None) -> list[FormRecord]:
    """R13 (DPT across the forms of a TPS) and R14 (D.Hasil against its TPS' forms, where the
    register says the batch holds every TPS of the kecamatan): issues added, statuses re-judged."""
    register = load_register(register)
    extra = cross_form_issues(forms, register)
    # Without a register R14 cannot be decided: the recap issues a form has (from a run that had
    # one) are kept; R13 needs no register and is always recomputed.
    recomputed = ("R13", "R14.recap") if register is not None else ("R13",)
    out = []
    for f in forms:
        new = extra.get((f.region_code, f.form_type.value), [])
        kept = [i for i in f.issues if not i.rule_id.startswith(recomputed)]
        if new or len(kept) != len(f.issues):
            f = judge(f.model_copy(update={"issues": [*kept, *new]}), settings)
        out.append(f)
    return out


def validate_batch(outcomes: list[FileOutcome], register: RegisterSource = None,
                   settings: ValidationSettings | None = None) -> tuple[list[FormRecord], list[FileStatus]]:
    """Forms and file statuses of a batch. ``register`` (``schemas.register``, optional) adds the
    header name checks and makes rule 14 decidable (complete kecamatan)."""
    register = load_register(register)
    drafts = assemble(outcomes)
    id2name = register.id2name if register else None
    forms_list = [validate_form(d, id2name, settings) for d in drafts.values()]
    forms_list = cross_form_checks(forms_list, register, settings)
    forms = {(f.region_code, f.form_type): f for f in forms_list}
    files = [file_status(oc, forms) for oc in sorted(outcomes, key=lambda o: o.file.rel_path)]
    return forms_list, files


def build_result(outcomes: list[FileOutcome], model_version: str, pipeline_version: str,
                 ignored: list[str] | None = None, skipped_links: list[str] | None = None,
                 register: RegisterSource = None,
                 settings: ValidationSettings | None = None) -> BatchResult:
    """The validated batch, with its reconciliation and coverage rows (``transform.reconcile``)."""
    register = load_register(register)
    forms, files = validate_batch(outcomes, register, settings)
    result = BatchResult(forms=forms, files=files, ignored_files=ignored or [],
                         skipped_links=skipped_links or [], model_version=model_version,
                         pipeline_version=pipeline_version)
    return with_cross_form_tables(result, register)


def refresh_file_statuses(files: list[FileStatus], forms: list[FormRecord]) -> list[FileStatus]:
    """After corrections: a file that fed a form takes the form's new status and reasons; files
    rejected or failed on their own stay as they were."""
    by_key = {(f.region_code, f.form_type): f for f in forms}
    out = []
    for fs in files:
        form = by_key.get((fs.region_code, fs.form_type))
        if form is None or fs.status in (Status.REJECTED, Status.FAILED) and fs.file not in form.files:
            out.append(fs)
            continue
        reasons = list(dict.fromkeys(form.reasons))
        out.append(fs.model_copy(update=dict(status=form.status, reasons=reasons,
                                             detail="; ".join(r.message for r in reasons))))
    return out
