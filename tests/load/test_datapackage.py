"""datapackage.json validates with frictionless (the reference validator, 5.x) on every release: nulls in
integer columns, list and struct columns, empty tables, several partitions of one table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REGISTER, batch, form, sample_batch

from load.release import publish, read_manifest
from load.tables import table_specs

frictionless = pytest.importorskip("frictionless")


@pytest.mark.parametrize("which", ["full", "small"])
def test_frictionless_validates_the_release(tmp_path: Path, which: str) -> None:
    result = sample_batch() if which == "full" else batch([form("0101010001001")])  # small: empty tables
    rel = publish(result, tmp_path, release_id="r1", register=REGISTER if which == "full" else None)
    report = frictionless.validate(str(rel / "datapackage.json"))
    errors = [(t.name, e.type, e.message) for t in report.tasks for e in t.errors]
    assert report.valid, errors[:5]
    pkg = json.loads((rel / "datapackage.json").read_text())
    m = read_manifest(rel)
    by_table: dict[str, int] = {}
    for res in pkg["resources"]:
        by_table[res["table"]] = by_table.get(res["table"], 0) + res["rows"]
        assert isinstance(res["path"], str) and (rel / res["path"]).is_file()
    assert by_table == {name: m.tables[name].rows for name in table_specs()}  # every table, rows right
    checked = {t.name: t.stats.get("rows") or 0 for t in report.tasks}
    assert sum(checked.values()) == sum(by_table.values())
    if which == "small":
        assert by_table["d_hasil"] == 0 and "d_hasil-empty" in checked


def test_frictionless_notices_a_damaged_file(tmp_path: Path) -> None:
    rel = publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    victim = rel / "c_hasil" / "province=p01" / "part-0.parquet"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    pkg = json.loads((rel / "datapackage.json").read_text())
    pkg["resources"] = [r for r in pkg["resources"] if r["path"] == victim.relative_to(rel).as_posix()]
    (rel / "one.json").write_text(json.dumps(pkg))  # only the damaged file's resource, to be quick
    report = frictionless.validate(str(rel / "one.json"))
    assert not report.valid and report.tasks[0].errors[0].type == "source-error"


def test_frictionless_validates_a_partial_publication(tmp_path: Path) -> None:
    """Province 32 republished, province 01 carried over: the carried files are resources too."""
    publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    r2 = publish(batch([form("3273010001001", seed=20)]), tmp_path, release_id="r2", register=REGISTER,
                 provinces=["32"])
    pkg = json.loads((r2 / "datapackage.json").read_text())
    assert "c_hasil-p01" in {r["name"] for r in pkg["resources"]}
    report = frictionless.validate(str(r2 / "datapackage.json"))
    assert report.valid, [(t.name, e.type, e.message) for t in report.tasks for e in t.errors][:5]
