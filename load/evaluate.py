"""Score a published release against the generator's ground truth (``truth.jsonl``).

What is counted, and against what:

- digits: every box of every field the release read (``records.jsonl`` readings), the reader's top
  class against what the box holds on paper (``TruthForm.boxes``: "X" and "-" are the no-digit
  class "X", "" is the blank class "_"). ``symbol`` accuracy merges "X" and "_" (both mean "no
  digit", which is all the number needs).
- fields: the reader's own value (``read``) and the published value after the arithmetic's
  corrections (``published``), each against the value written on the form.
- forms: verified and right, verified and WRONG (a silent error: the one outcome that must never
  happen), needs_review, rejected, missing (no record at all: every file of the form rejected).
- injected officer mistakes (``TruthForm.mistakes``): every such form must not be verified.

Everything is broken down by scan quality (the form's first page) and form type.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from schemas.errors import TruthUnusable
from schemas.records import CLASS_BLANK, CLASS_NODIGIT, DIGIT_CLASSES, FormRecord
from schemas.truth import TruthForm

N = len(DIGIT_CLASSES)
OUTCOMES = ("verified_right", "verified_wrong", "needs_review", "rejected", "missing")


def truth_class(box: str) -> int:
    """What a box holds on paper -> the reader's class index."""
    if box in ("X", "x", "-"):
        return CLASS_NODIGIT
    if box == "":
        return CLASS_BLANK
    if len(box) == 1 and box.isdigit():
        return int(box)
    raise ValueError(f"unknown box content {box!r}")


def _symbol(c: int) -> int:
    return CLASS_NODIGIT if c == CLASS_BLANK else c


class Accuracy(BaseModel):
    total: int = 0
    correct: int = 0

    @property
    def rate(self) -> float | None:
        return self.correct / self.total if self.total else None

    def add(self, ok: bool) -> None:
        self.total += 1
        self.correct += int(ok)


class Group(BaseModel):
    """Counts for one slice of the batch (all, one quality, one form type)."""

    forms: int = 0
    digits: Accuracy = Field(default_factory=Accuracy)  # 12 classes
    symbols: Accuracy = Field(default_factory=Accuracy)  # X and blank merged
    fields_read: Accuracy = Field(default_factory=Accuracy)  # the reader's value
    fields_published: Accuracy = Field(default_factory=Accuracy)  # after the arithmetic's corrections
    fields_unread: int = 0  # fields of the truth with no reading (page missing or rejected)
    outcomes: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))


class FormError(BaseModel):
    region_code: str
    form_type: str
    quality: str
    outcome: str
    wrong_fields: dict[str, list[int | None]] = Field(default_factory=dict)  # field -> [truth, published]
    mistakes: list[str] = Field(default_factory=list)


class EvalReport(BaseModel):
    release: str
    truth: str
    overall: Group
    by_quality: dict[str, Group]
    by_form_type: dict[str, Group]
    # forms the officers filled in consistently (no injected mistake), by quality: the share of these
    # that is verified is what a steward is spared
    consistent_by_quality: dict[str, Group] = Field(default_factory=dict)
    confusion: list[list[int]]  # [truth class][read class], classes as DIGIT_CLASSES
    mistakes_injected: int = 0
    mistakes_caught: int = 0  # forms with an injected mistake that were not verified
    mistakes_by_kind: dict[str, list[int]] = Field(default_factory=dict)  # kind -> [caught, injected]
    silent_errors: list[FormError] = Field(default_factory=list)  # verified and wrong
    mistakes_missed: list[FormError] = Field(default_factory=list)  # injected mistake, yet verified
    unexpected_forms: list[str] = Field(default_factory=list)  # records with no truth form

    @property
    def silent_error_count(self) -> int:
        return self.overall.outcomes["verified_wrong"]


# --------------------------------------------------------------------------- loading

def load_truth(path: Path) -> list[TruthForm]:
    """The generator's truth.jsonl; a line that is not a truth record is a ``TruthUnusable`` naming it."""
    out: list[TruthForm] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                out.append(TruthForm.model_validate_json(line))
            except ValueError as exc:  # pydantic's ValidationError: bad JSON or a missing field
                first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
                raise TruthUnusable(str(path), f"line {n} is not a truth record ({first})") from exc
    return out


# --------------------------------------------------------------------------- counting

def form_outcome(truth: TruthForm, record: FormRecord | None) -> tuple[str, dict[str, list[int | None]]]:
    """The form's outcome and, for a record, the published fields that differ from the paper."""
    if record is None:
        return "missing", {}
    wrong = {f: [v, record.values.get(f)] for f, v in truth.values.items() if record.values.get(f) != v}
    status = record.status.value
    if status == "verified":
        return ("verified_wrong" if wrong else "verified_right"), wrong
    if status in ("rejected", "failed"):
        return "rejected", wrong
    return "needs_review", wrong


def score(records: list[FormRecord], truths: list[TruthForm], release: str = "", truth: str = "") -> EvalReport:
    """Count everything in the module docstring. Pure: records and truth in, report out."""
    by_key = {(r.region_code, r.form_type.value): r for r in records}
    known = {(t.region_code, t.form_type.value) for t in truths}
    overall = Group()
    by_quality: dict[str, Group] = defaultdict(Group)
    by_type: dict[str, Group] = defaultdict(Group)
    consistent: dict[str, Group] = defaultdict(Group)
    confusion = np.zeros((N, N), np.int64)
    report = EvalReport(release=release, truth=truth, overall=overall, by_quality={}, by_form_type={},
                        confusion=[], unexpected_forms=sorted(f"{k[0]}_{k[1]}" for k in by_key if k not in known))

    for t in truths:
        quality = t.pages[0].quality if t.pages else "unknown"
        groups = (overall, by_quality[quality], by_type[t.form_type.value],
                  *((consistent[quality],) if t.consistent and not t.mistakes else ()))
        record = by_key.get((t.region_code, t.form_type.value))
        outcome, wrong = form_outcome(t, record)
        readings = {r.field_id: r for r in record.readings} if record is not None else {}
        for g in groups:
            g.forms += 1
            g.outcomes[outcome] += 1
        for fid, value in t.values.items():
            reading = readings.get(fid)
            if reading is None:
                for g in groups:
                    g.fields_unread += 1
                continue
            published = record.values.get(fid) if record is not None else None
            for g in groups:
                g.fields_read.add(reading.value == value)
                g.fields_published.add(published == value)
            boxes = t.boxes.get(fid, [])
            if len(boxes) != len(reading.digits):
                continue  # layout and truth disagree on the box count: nothing to compare per box
            for box, digit in zip(boxes, reading.digits, strict=True):
                want, got = truth_class(box), digit.top
                confusion[want, got] += 1
                for g in groups:
                    g.digits.add(want == got)
                    g.symbols.add(_symbol(want) == _symbol(got))
        mistakes = [m.kind for m in t.mistakes]
        if mistakes:
            report.mistakes_injected += 1
            caught = not outcome.startswith("verified")
            report.mistakes_caught += int(caught)
            if not caught:
                report.mistakes_missed.append(_error(t, quality, outcome, wrong, mistakes))
            for kind in dict.fromkeys(mistakes):
                counts = report.mistakes_by_kind.setdefault(kind, [0, 0])
                counts[0] += int(caught)
                counts[1] += 1
        if outcome == "verified_wrong":
            report.silent_errors.append(_error(t, quality, outcome, wrong, mistakes))

    report.by_quality = dict(sorted(by_quality.items()))
    report.by_form_type = dict(sorted(by_type.items()))
    report.consistent_by_quality = dict(sorted(consistent.items()))
    report.confusion = confusion.tolist()
    return report


def _error(t: TruthForm, quality: str, outcome: str, wrong: dict, mistakes: list[str]) -> FormError:
    return FormError(region_code=t.region_code, form_type=t.form_type.value, quality=quality, outcome=outcome,
                     wrong_fields=wrong, mistakes=mistakes)


def evaluate_release(release_dir: Path, truth_jsonl: Path,
                     rejudge: Callable[[FormRecord], FormRecord] | None = None) -> EvalReport:
    """Score the release in ``release_dir`` (a release folder, or a releases folder: its ``latest``).

    ``rejudge``: applied to every record before scoring (a what-if: the same readings judged under
    another verification policy); the release itself is never changed."""
    from load.catalogue import open_release

    release = open_release(Path(release_dir))
    records = release.records
    if rejudge is not None:
        records = [rejudge(r) for r in records]
    return score(records, load_truth(Path(truth_jsonl)), release=str(release.path), truth=str(Path(truth_jsonl)))


# --------------------------------------------------------------------------- output

def _pct(a: Accuracy) -> str:
    return "-" if a.rate is None else f"{100 * a.rate:.2f}%"


def group_rows(report: EvalReport) -> list[tuple[str, Group]]:
    return ([("all", report.overall)] + [(f"quality={q}", g) for q, g in report.by_quality.items()]
            + [(f"form={f}", g) for f, g in report.by_form_type.items()]
            + [(f"consistent,{q}", g) for q, g in report.consistent_by_quality.items()])


def format_report(report: EvalReport) -> str:
    """A plain-text table a person reads in a terminal (or pastes into Markdown as a code block)."""
    head = (f"{'slice':<22} {'forms':>5} {'digits':>8} {'symbols':>8} {'fld read':>8} {'fld pub':>8} "
            f"{'ok':>5} {'WRONG':>5} {'review':>6} {'rej':>4} {'miss':>4}")
    lines = [f"release: {report.release}", f"truth:   {report.truth}", "", head, "-" * len(head)]
    for name, g in group_rows(report):
        o = g.outcomes
        lines.append(f"{name:<22} {g.forms:>5} {_pct(g.digits):>8} {_pct(g.symbols):>8} "
                     f"{_pct(g.fields_read):>8} {_pct(g.fields_published):>8} {o['verified_right']:>5} "
                     f"{o['verified_wrong']:>5} {o['needs_review']:>6} {o['rejected']:>4} {o['missing']:>4}")
    ov = report.overall
    lines += ["", f"digit boxes: {ov.digits.correct:,}/{ov.digits.total:,} right; fields read: "
                  f"{ov.fields_read.correct:,}/{ov.fields_read.total:,}; fields unread: {ov.fields_unread:,}",
              f"silent errors (verified, wrong): {report.silent_error_count}",
              f"injected mistakes caught: {report.mistakes_caught}/{report.mistakes_injected}"
              + "".join(f"; {k} {c}/{n}" for k, (c, n) in sorted(report.mistakes_by_kind.items()))]
    if report.consistent_by_quality:
        lines.append("consistent forms verified: " + ", ".join(
            f"{q} {g.outcomes['verified_right'] + g.outcomes['verified_wrong']}/{g.forms} "
            f"({(g.outcomes['verified_right'] + g.outcomes['verified_wrong']) / max(g.forms, 1):.1%})"
            for q, g in report.consistent_by_quality.items()))
    for e in report.silent_errors[:10]:
        lines.append(f"  SILENT {e.region_code} {e.form_type} ({e.quality}): {e.wrong_fields}")
    for e in report.mistakes_missed[:10]:
        lines.append(f"  MISSED {e.region_code} {e.form_type} ({e.quality}): {e.mistakes}")
    if report.unexpected_forms:
        lines.append(f"records with no truth form: {len(report.unexpected_forms)}")
    lines += ["", "confusion (rows: on paper, columns: read; X = no-digit mark, _ = blank):",
              "     " + "".join(f"{c:>7}" for c in DIGIT_CLASSES)]
    for c, row in zip(DIGIT_CLASSES, report.confusion, strict=True):
        lines.append(f"{c:>4} " + "".join(f"{v:>7}" for v in row))
    return "\n".join(lines) + "\n"


def confusion_png(confusion: list[list[int]], path: Path, title: str = "") -> Path:
    """Draw the confusion matrix with OpenCV: cells shaded by the row's share, counts written in."""
    import cv2

    m = np.asarray(confusion, np.float64)
    n = len(m)
    cell, left, top = 56, 70, 90
    w, h = left + n * cell + 20, top + n * cell + 50
    img = np.full((h, w, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    for i in range(n):
        for j in range(n):
            x, y = left + j * cell, top + i * cell
            s = share[i, j]
            # Diagonal in blue, errors in red: a misreading stands out even when it is rare.
            colour = (255, 255 - 200 * s, 255 - 230 * s) if i == j else (255 - 230 * min(1, 5 * s),
                                                                          255 - 230 * min(1, 5 * s), 255)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), tuple(int(c) for c in colour), -1)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (200, 200, 200), 1)
            if m[i, j]:
                text = f"{int(m[i, j])}"
                scale = 0.42 if len(text) < 5 else 0.34
                (tw, th), _ = cv2.getTextSize(text, font, scale, 1)
                ink = (255, 255, 255) if i == j and s > 0.6 else (0, 0, 0)
                cv2.putText(img, text, (x + (cell - tw) // 2, y + (cell + th) // 2), font, scale, ink, 1, cv2.LINE_AA)
    for k, c in enumerate(DIGIT_CLASSES[:n]):
        cv2.putText(img, c, (left + k * cell + cell // 2 - 6, top - 10), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, c, (left - 28, top + k * cell + cell // 2 + 6), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "read as ->", (left, top - 40), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "on paper", (4, top - 10), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    total = int(m.sum())
    acc = float(np.trace(m) / total) if total else 0.0
    cv2.putText(img, f"{title} {total:,} boxes, {100 * acc:.2f}% right".strip(), (10, 24), font, 0.6, (0, 0, 0),
                1, cv2.LINE_AA)
    cv2.putText(img, "X = no-digit mark (X or -), _ = blank box", (10, h - 18), font, 0.5, (60, 60, 60), 1,
                cv2.LINE_AA)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {path}")
    return path


def save_report(report: EvalReport, out_dir: Path, stem: str = "eval") -> dict[str, Path]:
    """``<stem>.json`` (every count), ``<stem>.txt`` (the table) and ``<stem>-confusion.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report.model_dump(mode="json")
    data["rates"] = {name: {k: getattr(g, k).rate for k in ("digits", "symbols", "fields_read", "fields_published")}
                     for name, g in group_rows(report)}
    paths = {"json": out_dir / f"{stem}.json", "text": out_dir / f"{stem}.txt",
             "png": out_dir / f"{stem}-confusion.png"}
    paths["json"].write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    paths["text"].write_text(format_report(report), "utf-8")
    confusion_png(report.confusion, paths["png"])
    return paths
