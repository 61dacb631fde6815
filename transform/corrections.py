"""The stewards' corrections: which fields are doubtful, the ``corrections.csv`` template, and
applying a filled-in CSV to a release's records (re-validated, with an audit trail).

CSV columns: ``region_code, form_type, field_id, old_value, new_value, reviewer, reason, kind``.

- ``new_value`` empty: no decision on that row (template rows nobody touched), skipped.
- ``new_value`` a number: the field's value; equal to the current value it *confirms* the reading.
- ``new_value`` ``-`` (or ``x``/``blank``): the field is empty on the paper form.
- ``old_value`` (prefilled in the template) must match the record's current value: a CSV made for
  another release is refused instead of overwriting newer values. Empty: not checked.
- ``reviewer`` empty: the ``reviewer_default`` given to ``apply_corrections``.
- ``kind`` (optional column; a CSV without it is read as all blank) says what the paper shows:
  ``confirm`` (the reading is what is written), ``misread`` (the paper says ``new_value``, the
  reader was wrong) or ``officer_slip`` (the paper says what was read, but the officer wrote it
  wrongly: the published value changes, the ink does not, so it never becomes a training label).
  Blank: ``misread`` when ``new_value`` differs from the current value, else ``confirm``.

The whole CSV is checked first; any bad row (unknown form or field, a non-number, out of range,
stale ``old_value``, two different values for one field) raises ``CorrectionsError`` listing every
bad line, and nothing is applied. Source scans are never touched: a correction is a ``Correction``
record (who, when, old, new, why) on the form, and the form is judged again on the corrected
values (a steward-confirmed form can become ``verified``, with reason ``steward_corrected``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from schemas.layout import FormType, load_layout
from schemas.reasons import Status
from schemas.records import Correction, FormRecord
from schemas.register import RegisterSource
from schemas.release import FieldDecision, LedgerEntry
from transform.decode_arith import is_unsure
from transform.rules import is_flagging
from transform.validate import ValidationSettings, cross_form_checks, judge

# ``kind`` last: CSVs written before it existed (or rows written by position) still line up.
COLUMNS = ("region_code", "form_type", "field_id", "old_value", "new_value", "reviewer", "reason", "kind")
_OPTIONAL = {"kind"}  # CSVs written before the column existed are still read
_EMPTY_MARKS = {"-", "x", "X", "blank", "kosong"}


class CorrectionKind(StrEnum):
    """What a steward's decision says about the ink on the paper (stable codes; the CSV's ``kind``)."""

    CONFIRM = "confirm"  # the reading is what is written
    MISREAD = "misread"  # the paper says the new value; the reader was wrong
    OFFICER_SLIP = "officer_slip"  # the paper says what was read; the officer's number was wrong

    @property
    def is_ink(self) -> bool:
        """The decided value is what is written on the paper: it may label the field's boxes."""
        return self is not CorrectionKind.OFFICER_SLIP


class CorrectionsError(ValueError):
    """A corrections CSV that cannot be applied; ``problems`` lists every bad line."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path, self.problems = path, problems
        super().__init__(f"{path}: {len(problems)} problem(s), nothing applied:\n  " + "\n  ".join(problems))


class AppliedCorrection(FieldDecision):
    line: int
    kind: CorrectionKind = CorrectionKind.MISREAD  # what the paper shows (see the module docstring)


class CorrectionReport(BaseModel):
    csv: str
    at: str
    applied: list[AppliedCorrection] = Field(default_factory=list)
    skipped_lines: list[int] = Field(default_factory=list)  # rows with no new_value
    forms_changed: list[str] = Field(default_factory=list)  # "<region_code>/<form_type>"
    status_before: dict[str, int] = Field(default_factory=dict)
    status_after: dict[str, int] = Field(default_factory=dict)
    newly_verified: list[str] = Field(default_factory=list)
    still_flagged: list[str] = Field(default_factory=list)  # changed forms that still need review


# --------------------------------------------------------------------------- doubtful fields

def doubtful_fields(form: FormRecord) -> dict[str, list[str]]:
    """Fields a steward should look at, each with why: unsure digits the arithmetic did not settle,
    automatic corrections, fields of broken rules, bubbles that disagree. Layout order."""
    why: dict[str, list[str]] = {}

    def add(fid: str, text: str) -> None:
        if text not in why.setdefault(fid, []):
            why[fid].append(text)

    auto = {c.field_id: c for c in form.corrections if c.by == "auto"}
    steward = {c.field_id for c in form.corrections if c.by != "auto"}
    for r in form.readings:
        if r.field_id in steward:
            continue
        if is_unsure(r) and r.field_id not in auto:
            add(r.field_id, "malformed" if r.malformed else "unsure digits")
        if r.field_id in auto:
            c = auto[r.field_id]
            add(r.field_id, "auto-corrected" if c.old != c.new else "auto-confirmed")
    for i in form.issues:
        if is_flagging(i) or i.rule_id.startswith("R11"):
            for f in i.fields:
                if f not in steward:
                    add(f, i.rule_id)
    try:
        order = {f: n for n, f in enumerate(load_layout(form.form_type).field_ids())}
    except Exception:  # a form type without a packaged layout: keep insertion order
        order = {}
    return dict(sorted(why.items(), key=lambda kv: order.get(kv[0], 10**6)))


def _fmt(v: int | None) -> str:
    return "-" if v is None else str(v)


def template_rows(forms: list[FormRecord]) -> list[dict[str, str]]:
    """One prefilled row per doubtful field of every form that is not verified."""
    rows = []
    for f in sorted(forms, key=lambda f: (f.region_code, f.form_type.value)):
        if f.status == Status.VERIFIED:
            continue
        for fid in doubtful_fields(f):
            rows.append({"region_code": f.region_code, "form_type": f.form_type.value, "field_id": fid,
                         "old_value": _fmt(f.values.get(fid)), "new_value": "", "kind": "", "reviewer": "",
                         "reason": ""})
    return rows


def write_template(forms: list[FormRecord], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(template_rows(forms))
    return path


# --------------------------------------------------------------------------- applying

def _parse_value(text: str, max_value: int) -> tuple[bool, int | None, str | None]:
    """(ok, value, error) for a CSV value cell that is not empty."""
    t = text.strip()
    if t in _EMPTY_MARKS:
        return True, None, None
    if not t.isdigit():
        return False, None, f"'{text}' is not a whole number (or '-' for an empty field)"
    v = int(t)
    if v > max_value:
        return False, None, f"{v} is out of range 0-{max_value}"
    return True, v, None


def read_corrections(path: Path, forms: list[FormRecord], reviewer_default: str, text: str | None = None
                     ) -> tuple[list[AppliedCorrection], list[int]]:
    """Parse and check the whole CSV against ``forms``; raise ``CorrectionsError`` on any problem.
    ``text``: the CSV's content when it is not read from ``path`` (``path`` then only names it)."""
    if text is None:
        try:
            text = path.read_text("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CorrectionsError(path, [f"cannot read the file: {exc}"]) from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or []) and c not in _OPTIONAL]
    if missing:
        raise CorrectionsError(path, [f"line 1: missing column(s) {', '.join(missing)}; expected "
                                      f"{','.join(COLUMNS)}"])
    by_key = {(f.region_code, f.form_type.value): f for f in forms}
    problems: list[str] = []
    out: list[AppliedCorrection] = []
    skipped: list[int] = []
    seen: dict[tuple[str, str, str], tuple[int, int | None]] = {}
    for n, row in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(row.values()):
            continue
        code, ft, fid = row["region_code"], row["form_type"], row["field_id"]
        where = f"line {n} ({code} {ft} {fid})"
        if ft not in {t.value for t in FormType}:
            known = ", ".join(t.value for t in FormType)
            problems.append(f"{where}: unknown form type '{ft}' (one of {known})")
            continue
        form = by_key.get((code, ft))
        if form is None:
            problems.append(f"{where}: no {ft} form for region {code} in this release")
            continue
        layout = load_layout(ft)
        if fid not in layout.field_ids():
            problems.append(f"{where}: unknown field '{fid}' for form type {ft}")
            continue
        if not row["new_value"]:
            skipped.append(n)
            continue
        max_value = layout.field(fid).max_value
        ok, new, err = _parse_value(row["new_value"], max_value)
        if not ok:
            problems.append(f"{where}: new_value {err}")
            continue
        current = form.values.get(fid)
        if row["old_value"]:
            ok_old, old, err = _parse_value(row["old_value"], 10**9)
            if not ok_old:
                problems.append(f"{where}: old_value {err}")
                continue
            if old != current:
                problems.append(f"{where}: old_value {_fmt(old)} does not match the release "
                                f"({_fmt(current)}); was the CSV made for another release?")
                continue
        key = (code, ft, fid)
        if key in seen and seen[key][1] != new:
            first, value = seen[key]
            problems.append(f"{where}: conflicts with line {first} ({_fmt(value)} vs {_fmt(new)})")
            continue
        seen[key] = (n, new)
        reviewer = row["reviewer"] or reviewer_default
        if not reviewer:
            problems.append(f"{where}: no reviewer (fill the column or give a default reviewer)")
            continue
        kind, err = _kind(row.get("kind") or "", current, new)
        if err:
            problems.append(f"{where}: {err}")
            continue
        out.append(AppliedCorrection(line=n, region_code=code, form_type=ft, field_id=fid, old=current,
                                     new=new, reviewer=reviewer, confirmation=new == current,
                                     reason=row["reason"], kind=kind))
    if problems:
        raise CorrectionsError(path, problems)
    return out, skipped


def _kind(text: str, current: int | None, new: int | None) -> tuple[CorrectionKind, str | None]:
    """The row's kind (blank: ``misread`` if the value changes, else ``confirm``), or an error."""
    t = text.strip().lower().replace("-", "_").replace(" ", "_")
    if not t:
        return (CorrectionKind.CONFIRM if new == current else CorrectionKind.MISREAD), None
    try:
        kind = CorrectionKind(t)
    except ValueError:
        return CorrectionKind.MISREAD, (f"kind '{text}' is not one of {', '.join(k.value for k in CorrectionKind)} "
                                        f"(or empty)")
    if kind is CorrectionKind.CONFIRM and new != current:
        return kind, f"kind confirm, but new_value {_fmt(new)} differs from the value {_fmt(current)}"
    # A misread or slip whose value is in force already (the same CSV applied again) is accepted as is.
    return kind, None


_DEFAULT_WHY = {CorrectionKind.CONFIRM: "confirmed by a steward",
                CorrectionKind.MISREAD: "corrected by a steward",
                CorrectionKind.OFFICER_SLIP: "an officer's slip corrected by a steward (the paper says {old})"}


def apply_corrections(records: list[FormRecord], corrections_csv: Path, reviewer_default: str,
                      register: RegisterSource = None, at: str | None = None,
                      settings: ValidationSettings | None = None
                      ) -> tuple[list[FormRecord], CorrectionReport]:
    """Apply a filled-in corrections CSV to ``records`` (see the module docstring).

    Returns new records (the input is not modified) and the report. Changed forms are judged
    again; R13 is recomputed over all forms (a corrected DPT can settle it), R14 too when the
    ``register`` is given (otherwise the recap issues of the release are kept). A batch result
    built from the new records needs ``transform.reconcile.with_cross_form_tables`` again.
    """
    corrections_csv = Path(corrections_csv)
    entries, skipped = read_corrections(corrections_csv, records, reviewer_default)
    at = at or datetime.now(UTC).isoformat(timespec="seconds")
    pending: dict[tuple[str, str], list[Correction]] = {}
    for e in entries:
        why = e.reason or _DEFAULT_WHY[e.kind].format(old=_fmt(e.old))
        pending.setdefault((e.region_code, e.form_type), []).append(Correction(
            field_id=e.field_id, old=e.old, new=e.new, by=e.reviewer, at=at, reason=why))
    out: list[FormRecord] = []
    for f in records:
        key = (f.region_code, f.form_type.value)
        if key in pending:
            f = judge(f.model_copy(update={"corrections": [*f.corrections, *pending[key]]}), settings)
        out.append(f)
    out = cross_form_checks(out, register, settings)
    report = correction_report(records, out, entries, skipped, str(corrections_csv), at)
    return out, report


def correction_report(before_forms: list[FormRecord], after_forms: list[FormRecord],
                      entries: list[AppliedCorrection], skipped: list[int], source: str, at: str) -> CorrectionReport:
    """What applying ``entries`` did: forms changed, statuses before and after."""
    before = {(f.region_code, f.form_type.value): f.status for f in before_forms}
    after = {(f.region_code, f.form_type.value): f.status for f in after_forms}
    pending = {(e.region_code, e.form_type) for e in entries}
    return CorrectionReport(
        csv=source, at=at, applied=entries, skipped_lines=skipped,
        forms_changed=sorted(f"{c}/{t}" for c, t in pending),
        status_before=dict(sorted(Counter(s.value for s in before.values()).items())),
        status_after=dict(sorted(Counter(s.value for s in after.values()).items())),
        newly_verified=sorted(f"{c}/{t}" for (c, t), s in after.items()
                              if s == Status.VERIFIED and before.get((c, t)) != Status.VERIFIED),
        still_flagged=sorted(f"{c}/{t}" for (c, t) in pending if after.get((c, t)) != Status.VERIFIED),
    )


# --------------------------------------------------------------------------- the ledger (state)

def rows_csv(rows: list[dict[str, str]]) -> str:
    """Corrections rows (dicts with ``COLUMNS``) as the text of a corrections.csv."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows({k: ("" if r.get(k) is None else str(r.get(k))) for k in COLUMNS} for r in rows)
    return buf.getvalue()


def _has(form: FormRecord, e: LedgerEntry) -> bool:
    return any(c.by != "auto" and c.field_id == e.field_id and c.at == e.at and c.new == e.new
               for c in form.corrections)


def is_noop(form: FormRecord, e: AppliedCorrection) -> bool:
    """A row that changes nothing: the field's last steward decision is this value already."""
    last = [c for c in form.corrections if c.by != "auto" and c.field_id == e.field_id]
    return bool(last) and last[-1].new == e.new


def ledger_entries(applied: list[AppliedCorrection], at: str, source: str, release_id: str,
                   name: Callable[[str], str] = str) -> list[LedgerEntry]:
    """The ledger entries of a CSV's accepted rows; ``name`` maps a reviewer to what is stored
    (a pseudonym: releases never carry a person's name)."""
    shared = set(FieldDecision.model_fields) - {"reviewer"}
    return [LedgerEntry(**e.model_dump(include=shared), reviewer=name(e.reviewer), at=at, kind=str(e.kind),
                        source=source, release_id=release_id)
            for e in applied]


def apply_ledger(records: list[FormRecord], ledger: list[LedgerEntry], register: RegisterSource = None,
                 settings: ValidationSettings | None = None) -> tuple[list[FormRecord], int, int]:
    """Re-apply the corrections in force to ``records`` (fresh readings, or a parent's records).

    Idempotent: an entry a record carries already (same field, time and value) is not added twice.
    The steward decided the count on paper, so an entry applies whatever the reading is now; it is
    added after the record's own corrections, in ledger order, and the changed forms are judged
    again (R13/R14 across forms too). Returns (records, entries applied, entries whose form is not
    among ``records``); entries are never dropped from the ledger by this."""
    by_key = {(f.region_code, f.form_type.value): f for f in records}
    pending: dict[tuple[str, str], list[Correction]] = {}
    applied = missing = 0
    for e in ledger:
        form = by_key.get((e.region_code, e.form_type))
        if form is None:
            missing += 1
            continue
        applied += 1
        if _has(form, e):
            continue
        why = e.reason or ("confirmed by a steward" if e.confirmation else "corrected by a steward")
        pending.setdefault((e.region_code, e.form_type), []).append(Correction(
            field_id=e.field_id, old=e.old, new=e.new, by=e.reviewer, at=e.at, reason=why))
    if not pending:
        return list(records), applied, missing
    out = []
    for f in records:
        key = (f.region_code, f.form_type.value)
        if key in pending:
            f = judge(f.model_copy(update={"corrections": [*f.corrections, *pending[key]]}), settings)
        out.append(f)
    return cross_form_checks(out, register, settings), applied, missing
