"""A stewards' corrections CSV that names forms or fields that do not exist (or is not a CSV at
all) is a clear error listing every bad line, and changes nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from schemas.settings import Settings
from transform.corrections import COLUMNS, CorrectionsError, apply_corrections


@pytest.fixture(scope="module")
def forms(scans, reader):
    from extract.plan import plan_batch
    from extract.process import process_file
    from transform.validate import validate_batch

    plan = plan_batch(scans.root)
    settings = Settings(workers=1)
    outcomes = [process_file(item, settings, reader) for item in plan.items]
    records, _ = validate_batch(outcomes)
    assert len(records) == 3
    return records


def _csv(tmp_path: Path, rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([list(header), *rows])
    p = tmp_path / "corrections.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    return p


def _apply_fails(forms, path: Path) -> str:
    before = [f.model_dump_json() for f in forms]
    with pytest.raises(CorrectionsError) as err:
        apply_corrections(forms, path, reviewer_default="steward-1")
    assert [f.model_dump_json() for f in forms] == before  # nothing changed
    return str(err.value)


def test_unknown_forms_and_fields_are_listed_line_by_line(forms, tmp_path: Path) -> None:
    code = forms[0].region_code
    rows = [
        ["9999999999999", "ppwp", "votes_1", "", "10", "", ""],  # no such form in the release
        [code, "dpr", "votes_1", "", "10", "", ""],  # that TPS has no DPR form here
        [code, "pilkada", "votes_1", "", "10", "", ""],  # no such form type
        [code, "ppwp", "votes_99", "", "10", "", ""],  # no such field
        [code, "ppwp", "'; DROP TABLE forms; --", "", "1", "", ""],
        [code, "ppwp", "votes_1", "", "=cmd|' /C calc'!A0", "", ""],  # formula injection: not a number
        [code, "ppwp", "votes_1", "", "-5", "", ""],
        [code, "ppwp", "votes_1", "", "99999999999", "", ""],
    ]
    msg = _apply_fails(forms, _csv(tmp_path, rows))
    for line in range(2, 2 + len(rows)):
        assert f"line {line} " in msg, (line, msg)
    assert "no ppwp form for region 9999999999999" in msg
    assert "unknown form type 'pilkada'" in msg
    assert "unknown field 'votes_99'" in msg


@pytest.mark.parametrize(("content", "expect"), [
    (b"", "missing column(s)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe garbage", "cannot read the file"),
    (b"region_code;form_type;field_id\n1;2;3\n", "missing column(s)"),
])
def test_not_a_corrections_csv(forms, tmp_path: Path, content: bytes, expect: str) -> None:
    p = tmp_path / "corrections.csv"
    p.write_bytes(content)
    assert expect in _apply_fails(forms, p)


def test_missing_csv_is_a_clear_error(forms, tmp_path: Path) -> None:
    assert "cannot read the file" in _apply_fails(forms, tmp_path / "nope.csv")
