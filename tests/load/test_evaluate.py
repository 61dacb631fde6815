"""Evaluation against ground truth: the counting on hand-made records, then a real generated batch."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from load.evaluate import (
    EvalReport,
    evaluate_release,
    format_report,
    save_report,
    score,
    truth_class,
)
from schemas.layout import FormType, load_layout
from schemas.reasons import Reason, Status
from schemas.records import CLASS_BLANK, CLASS_NODIGIT, DigitReading, FieldReading, FormRecord
from schemas.truth import Mistake, TruthForm, TruthPage

FT = FormType.PPWP


def _boxes(value: int | None, n: int = 3, lead: str = "X") -> list[str]:
    digits = "" if value is None else str(value)
    return [lead] * (n - len(digits)) + list(digits)


def _digit(cls: int) -> DigitReading:
    probs = [0.0] * 12
    probs[cls] = 1.0
    return DigitReading(probs=probs, top=cls)


def _truth(code: str, values: dict[str, int | None], quality: str = "scan", mistakes: list[Mistake] | None = None,
           lead: str = "X") -> TruthForm:
    return TruthForm(region_code=code, form_type=FT, values=values, consistent=not mistakes, mistakes=mistakes or [],
                     pages=[TruthPage(page=1, file=f"{code}_ppwp_p1.jpg", quality=quality)],
                     boxes={f: _boxes(v, lead=lead) for f, v in values.items()})


def _record(code: str, values: dict[str, int | None], status: Status, read: dict[str, list[int]] | None = None,
            published: dict[str, int | None] | None = None) -> FormRecord:
    """A record whose readings hold ``read`` box classes (default: the truth's boxes, read right)."""
    readings = []
    for f, v in values.items():
        classes = (read or {}).get(f) or [truth_class(b) for b in _boxes(v)]
        digits = [c for c in classes if c < 10]
        value = int("".join(map(str, digits))) if digits else None
        readings.append(FieldReading(field_id=f, page=1, value=value, confidence=1.0,
                                     digits=[_digit(c) for c in classes]))
    return FormRecord(region_code=code, form_type=FT, status=status,
                      reasons=[] if status == Status.VERIFIED else [Reason.RULE_BROKEN],
                      values=published if published is not None else {r.field_id: r.value for r in readings},
                      readings=readings)


VALUES = {"a": 123, "b": 45, "c": 7}


def test_truth_classes() -> None:
    assert truth_class("X") == truth_class("-") == CLASS_NODIGIT
    assert truth_class("") == CLASS_BLANK
    assert truth_class("7") == 7
    with pytest.raises(ValueError):
        truth_class("?")


def test_counts_outcomes_digits_fields_and_mistakes() -> None:
    truths = [
        _truth("3201011001001", VALUES),  # verified, right
        _truth("3201011001002", VALUES, quality="photo"),  # verified, but one box misread: a silent error
        _truth("3201011001003", VALUES, mistakes=[Mistake(kind="sum_off", fields=["a"])]),  # caught
        _truth("3201011001004", VALUES, quality="fax", lead=""),  # blank leading boxes, rejected
        _truth("3201011001005", VALUES),  # no record at all
        _truth("3201011001006", VALUES, mistakes=[Mistake(kind="swap", fields=["b", "c"])]),  # missed
    ]
    misread = {"b": [CLASS_NODIGIT, 4, 8]}  # 45 read as 48
    records = [
        _record("3201011001001", VALUES, Status.VERIFIED),
        _record("3201011001002", VALUES, Status.VERIFIED, read=misread),
        _record("3201011001003", VALUES, Status.NEEDS_REVIEW),
        # Blank boxes read as blank: all right; the arithmetic changed a published value.
        _record("3201011001004", VALUES, Status.REJECTED, read={f: [truth_class(b) for b in _boxes(v, lead="")]
                                                                for f, v in VALUES.items()},
                published={"a": 123, "b": 46, "c": 7}),
        _record("3201011001006", VALUES, Status.VERIFIED),
        _record("9999999999999", VALUES, Status.VERIFIED),  # not in the truth
    ]
    r = score(records, truths)
    o = r.overall
    assert o.forms == 6
    assert o.outcomes == {"verified_right": 2, "verified_wrong": 1, "needs_review": 1, "rejected": 1, "missing": 1}
    assert r.silent_error_count == 1
    assert r.silent_errors[0].region_code == "3201011001002"
    assert r.silent_errors[0].wrong_fields == {"b": [45, 48]}
    assert (r.mistakes_injected, r.mistakes_caught) == (2, 1)
    assert [e.region_code for e in r.mistakes_missed] == ["3201011001006"]
    assert r.mistakes_by_kind == {"sum_off": [1, 1], "swap": [0, 1]}
    assert r.unexpected_forms == ["9999999999999_ppwp"]
    # 5 forms read x 3 fields x 3 boxes; one box wrong.
    assert (o.digits.total, o.digits.correct) == (45, 44)
    assert (o.fields_read.total, o.fields_read.correct) == (15, 14)
    assert (o.fields_published.total, o.fields_published.correct) == (15, 13)
    assert o.fields_unread == 3  # the missing form's fields
    assert r.confusion[5][8] == 1 and r.confusion[CLASS_BLANK][CLASS_BLANK] == 3
    assert sum(map(sum, r.confusion)) == 45
    assert r.by_quality["photo"].outcomes["verified_wrong"] == 1
    assert r.by_quality["fax"].digits.rate == 1.0
    assert r.by_quality["scan"].forms == 4
    assert r.by_form_type["ppwp"].forms == 6


def test_blank_read_as_x_is_a_digit_error_but_not_a_symbol_error() -> None:
    t = _truth("3201011001001", {"a": 5}, lead="")
    rec = _record("3201011001001", {"a": 5}, Status.VERIFIED, read={"a": [CLASS_NODIGIT, CLASS_BLANK, 5]})
    r = score([rec], [t])
    assert (r.overall.digits.correct, r.overall.symbols.correct) == (2, 3)
    assert r.overall.outcomes["verified_right"] == 1


def test_report_files(tmp_path: Path) -> None:
    r = score([_record("3201011001001", VALUES, Status.VERIFIED)], [_truth("3201011001001", VALUES)])
    paths = save_report(r, tmp_path)
    assert EvalReport.model_validate_json(paths["json"].read_text()).overall.digits.total == 9
    img = cv2.imread(str(paths["png"]))
    assert img is not None and img.shape[0] > 600 and img.shape[1] > 600
    text = format_report(r)
    assert "silent errors (verified, wrong): 0" in text and "quality=scan" in text


def test_generated_batch_through_the_pipeline(tmp_path: Path) -> None:
    """A tiny real batch: generated, read by the plain pipeline, scored against its truth."""
    from flows.pipeline import run_pipeline
    from schemas.settings import Settings
    from synth.generate import GenerateOptions, generate_batch

    batch = tmp_path / "batch"
    generate_batch(GenerateOptions(out_dir=batch, forms=2, province="32", seed=5, quality="scan", workers=1))
    run_pipeline(batch, tmp_path / "releases", Settings(workers=1))
    r = evaluate_release(tmp_path / "releases", batch / "truth.jsonl")
    fields = [f for p in load_layout(FT).pages for f in p.fields]
    o = r.overall
    assert o.forms == 2
    assert o.fields_read.total + o.fields_unread == 2 * len(fields)
    if o.fields_unread == 0:
        assert o.digits.total == 2 * sum(len(f.boxes) for f in fields)
    assert o.digits.total > 0 and o.digits.rate is not None
    assert sum(o.outcomes.values()) == 2
    assert r.silent_error_count == 0
    assert r.mistakes_caught == r.mistakes_injected
    assert "all" in format_report(r)
