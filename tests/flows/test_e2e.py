"""End to end: generated forms -> the Prefect flow on a real server -> Parquet -> compared with truth."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from schemas.truth import TruthForm


def _truth(batch: Path) -> dict[tuple[str, str], TruthForm]:
    forms = [TruthForm.model_validate_json(line) for line in (batch / "truth.jsonl").read_text().splitlines()]
    return {(t.region_code, t.form_type.value): t for t in forms}


def test_flow_reads_generated_forms_into_parquet(prefect_server, small_batch: Path, tmp_path: Path) -> None:
    from flows.digitize import digitize_batch

    res = digitize_batch(str(small_batch), str(tmp_path / "releases"), workers=2)
    release = Path(res["release"])
    assert (tmp_path / "releases" / "latest").resolve() == release

    part = ds.partitioning(pa.schema([("province_code", pa.string())]), flavor="hive")
    table = ds.dataset(release / "c_hasil", format="parquet", partitioning=part).to_table()
    rows = table.to_pylist()
    truth = _truth(small_batch)
    assert {(r["tps_code"], r["form_type"]) for r in rows} == set(truth)

    files = json.loads((release / "run.json").read_text())["files"]
    n_inputs = sum(1 for p in small_batch.iterdir() if p.suffix in {".jpg", ".png", ".pdf", ".tif", ".webp"})
    assert len(files) == n_inputs  # every input file accounted for

    verified = [r for r in rows if r["status"] == "verified"]
    assert verified, "no form verified on clean scans"
    for r in verified:  # never a wrong number published as verified
        t = truth[(r["tps_code"], r["form_type"])]
        wrong = {k: (r[k], v) for k, v in t.values.items() if r[k] != v}
        assert not wrong, f"{r['tps_code']} verified with wrong fields {wrong}"


@pytest.mark.parametrize("use_prefect", [False])
def test_cli_run_and_status(small_batch: Path, tmp_path: Path, use_prefect: bool) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    out = tmp_path / "rel"
    res = runner.invoke(app, ["run", str(small_batch), "--out", str(out), "--no-prefect", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "forms read" in res.output and "release:" in res.output
    res = runner.invoke(app, ["status", str(out)])
    assert res.exit_code == 0, res.output
    assert "all" in res.output


def test_cli_rejects_missing_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["run", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 3
    assert "does not exist" in res.output
