"""Stewards' corrections: template -> edit -> apply -> re-validated, with an audit trail; bad CSVs
are clear errors and change nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from transform_factory import TPS, consistent_ppwp, outcome

from schemas.reasons import Reason, Status
from transform.corrections import COLUMNS, CorrectionsError, apply_corrections, write_template
from transform.validate import validate_batch

OTHER = "3273010001005"


@pytest.fixture
def records():
    v = consistent_ppwp()
    unsure = {"votes_1": {1: {"3": 0.5, "8": 0.3, "9": 0.15}}, "votes_2": {1: {"7": 0.5, "6": 0.45}}}
    flagged = outcome(v, region=TPS, unsure=unsure)  # 30 + 70 breaks R3; 80+70 and 90+60 both fit
    officer = outcome(dict(v, votes_3=42), region=OTHER)  # confidently written 42 instead of 39
    forms, _ = validate_batch([flagged, officer])
    return forms


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path


def test_round_trip_template_edit_apply(records, tmp_path: Path) -> None:
    assert {f.status for f in records} == {Status.NEEDS_REVIEW}
    tpl = write_template(records, tmp_path / "corrections.csv")
    rows = _rows(tpl)
    by = {(r["region_code"], r["field_id"]): r for r in rows}
    assert by[(TPS, "votes_1")]["old_value"] == "30"
    # The steward looks at the scans: votes_1 is 80 on TPS 004. On TPS 005 the paper does say 42
    # (the officer's mistake): they confirm the reading, and the form stays flagged.
    by[(TPS, "votes_1")].update(new_value="80", reviewer="", reason="checked on the scan")
    by[(OTHER, "votes_3")].update(new_value="42", reviewer="rina", reason="")
    edited = _write(tmp_path / "edited.csv", rows)
    out, report = apply_corrections(records, edited, reviewer_default="budi", at="2024-02-20T10:00:00+00:00")
    forms = {f.region_code: f for f in out}
    fixed = forms[TPS]
    assert fixed.values["votes_1"] == 80
    assert fixed.status == Status.VERIFIED
    assert Reason.STEWARD_CORRECTED in fixed.reasons  # distinguishable from a clean read
    (c,) = [c for c in fixed.corrections if c.by != "auto"]
    assert (c.field_id, c.old, c.new, c.by, c.at, c.reason) == (
        "votes_1", 30, 80, "budi", "2024-02-20T10:00:00+00:00", "checked on the scan")
    # With votes_1 settled, the arithmetic pins votes_2 (unsure 70/60) uniquely: auto-confirmed.
    assert any(a.field_id == "votes_2" and a.by == "auto" for a in fixed.corrections)
    kept = forms[OTHER]
    assert kept.status == Status.NEEDS_REVIEW and kept.values["votes_3"] == 42
    assert any(a.by == "rina" and a.old == a.new == 42 for a in kept.corrections)
    assert report.newly_verified == [f"{TPS}/ppwp"] and report.still_flagged == [f"{OTHER}/ppwp"]
    assert len(report.applied) == 2 and report.applied[1].confirmation
    assert len(report.skipped_lines) == len(rows) - 2
    assert records[0].values["votes_1"] == 30  # the input records are not modified


@pytest.mark.parametrize(("edit", "message"), [
    ({"region_code": "3273010001999"}, "no ppwp form for region 3273010001999"),
    ({"form_type": "dprd"}, "unknown form type 'dprd'"),
    ({"field_id": "votes_9"}, "unknown field 'votes_9'"),
    ({"new_value": "8O"}, "'8O' is not a whole number"),
    ({"new_value": "1000"}, "out of range 0-999"),
    ({"old_value": "31"}, "old_value 31 does not match the release (30)"),
])
def test_bad_csv_is_a_clear_error_and_applies_nothing(records, tmp_path: Path, edit, message) -> None:
    good = {"region_code": TPS, "form_type": "ppwp", "field_id": "votes_2", "old_value": "70",
            "new_value": "70", "reviewer": "rina", "reason": ""}
    bad = {"region_code": TPS, "form_type": "ppwp", "field_id": "votes_1", "old_value": "30",
           "new_value": "80", "reviewer": "rina", "reason": ""} | edit
    path = _write(tmp_path / "c.csv", [good, bad])
    with pytest.raises(CorrectionsError) as err:
        apply_corrections(records, path, "budi")
    assert "line 3" in str(err.value) and message in str(err.value)
    assert "nothing applied" in str(err.value)


def test_kind_column_default_and_checks(records, tmp_path: Path) -> None:
    """``kind``: blank is misread when the value changes, confirm when not; a wrong kind or a confirm
    that changes the value: clear errors. A CSV without the column is read."""
    from transform.corrections import CorrectionKind

    tpl = write_template(records, tmp_path / "corrections.csv")
    assert "kind" in _rows(tpl)[0]
    base = {"region_code": OTHER, "form_type": "ppwp", "old_value": "", "reviewer": "rina", "reason": ""}
    ok = _write(tmp_path / "ok.csv", [
        dict(base, field_id="votes_3", new_value="39", kind=""),  # the value changes: misread
        dict(base, field_id="votes_1", new_value=str(records[1].values["votes_1"]), kind=""),  # confirm
        dict(base, field_id="votes_2", new_value=str(records[1].values["votes_2"] + 1), kind="Officer-Slip"),
    ])
    _, report = apply_corrections(records, ok, reviewer_default="budi")
    assert {a.field_id: a.kind for a in report.applied} == {
        "votes_3": CorrectionKind.MISREAD, "votes_1": CorrectionKind.CONFIRM, "votes_2": CorrectionKind.OFFICER_SLIP}
    bad = _write(tmp_path / "bad.csv", [
        dict(base, field_id="votes_3", new_value="39", kind="typo"),
        dict(base, field_id="votes_1", new_value="1", kind="confirm"),
    ])
    with pytest.raises(CorrectionsError) as err:
        apply_corrections(records, bad, reviewer_default="budi")
    msg = str(err.value)
    assert "line 2" in msg and "kind 'typo' is not one of confirm, misread, officer_slip" in msg
    assert "line 3" in msg and "kind confirm, but new_value 1 differs" in msg
    old_style = tmp_path / "old.csv"
    old_style.write_text("region_code,form_type,field_id,old_value,new_value,reviewer,reason\n"
                         f"{OTHER},ppwp,votes_3,,39,rina,\n")
    _, report = apply_corrections(records, old_style, reviewer_default="budi")
    assert [a.kind for a in report.applied] == [CorrectionKind.MISREAD]


def test_missing_columns_and_conflicting_rows(records, tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text("region_code,field_id,new_value\n")
    with pytest.raises(CorrectionsError, match="missing column"):
        apply_corrections(records, p, "budi")
    row = {"region_code": TPS, "form_type": "ppwp", "field_id": "votes_1", "old_value": "",
           "new_value": "80", "reviewer": "", "reason": ""}
    _write(p, [row, row | {"new_value": "90"}])
    with pytest.raises(CorrectionsError, match="conflicts with line 2"):
        apply_corrections(records, p, "budi")
    _write(p, [row])
    with pytest.raises(CorrectionsError, match="no reviewer"):
        apply_corrections(records, p, "")


def _entry(code: str, fid: str, old: int | None, new: int | None, at: str = "2024-02-20T10:00:00+00:00"):
    from schemas.release import LedgerEntry

    return LedgerEntry(region_code=code, form_type="ppwp", field_id=fid, old=old, new=new, reviewer="steward-x",
                       at=at, release_id="r2", source="c.csv")


def test_ledger_is_reapplied_to_fresh_records_once(records) -> None:
    """The ledger is state: applied to a fresh reading it gives the corrected form; applied again
    (records carried from a release that has it) it adds nothing; a form not in the batch keeps
    its entry for when it comes back."""
    from transform.corrections import apply_ledger

    ledger = [_entry(TPS, "votes_1", 30, 80), _entry("3273010001999", "votes_1", 1, 2)]
    out, applied, missing = apply_ledger(records, ledger)
    fixed = {f.region_code: f for f in out}[TPS]
    assert (applied, missing) == (1, 1)
    assert fixed.values["votes_1"] == 80 and fixed.status == Status.VERIFIED
    assert Reason.STEWARD_CORRECTED in fixed.reasons
    again, _, _ = apply_ledger(out, ledger)
    assert again == out  # idempotent
    assert records[0].values["votes_1"] == 30  # pure: the input is not modified
    # a later decision on the same field wins; the earlier one stays in the audit trail
    later, _, _ = apply_ledger(out, [*ledger, _entry(TPS, "votes_1", 80, 90, at="2024-02-21T10:00:00+00:00")])
    f = {f.region_code: f for f in later}[TPS]
    assert f.values["votes_1"] == 90 and [c.new for c in f.corrections if c.by != "auto"] == [80, 90]
