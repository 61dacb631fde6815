"""Training labels only from ink: a steward who corrects an officer's slip changes the published
value, and the field's boxes never enter the reviewed-crop store (issue 25: an L/P swap, 73 <-> 74,
stored the box where the officer wrote "3" as label "4")."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import run_pipeline
from load.reviewed_store import read_index
from schemas.settings import Settings
from schemas.truth import TruthForm


def test_an_officers_slip_is_corrected_but_never_a_label(prefect_server, small_batch: Path, tmp_path: Path,
                                                          monkeypatch) -> None:
    truth = [TruthForm.model_validate_json(ln) for ln in (small_batch / "truth.jsonl").read_text().splitlines()]
    # A PPWP form whose officer counted different numbers of men and women (a swap changes them).
    t = next(t for t in truth if t.form_type.value == "ppwp"
             and t.values["voters_total_l"] != t.values["voters_total_p"])
    batch = tmp_path / "batch"
    batch.mkdir()
    for p in small_batch.glob(f"{t.region_code}_ppwp_p*"):
        shutil.copyfile(p, batch / p.name)
    monkeypatch.setenv("PINDAI_STATE_DIR", str(tmp_path / "state"))
    settings = Settings.from_env(workers=1)
    run_pipeline(batch, tmp_path / "releases", settings)

    ink_l, ink_p = t.values["voters_total_l"], t.values["voters_total_p"]
    rows = [  # the paper says L=ink_l, P=ink_p; the steward decides the count was the other way round
        ("voters_total_l", ink_p, "officer_slip"), ("voters_total_p", ink_l, "officer_slip"),
        ("votes_1", t.values["votes_1"], ""),  # and confirms (or fixes) one field as written: ink
    ]
    with open(tmp_path / "corrections.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["region_code", "form_type", "field_id", "old_value", "new_value", "reviewer", "reason", "kind"])
        w.writerows([t.region_code, "ppwp", fid, "", str(v), "rina", "", kind] for fid, v, kind in rows)
    res = CliRunner().invoke(app, ["review", "apply", str(tmp_path / "corrections.csv"),
                                   "--releases", str(tmp_path / "releases")])
    assert res.exit_code == 0, res.output
    assert "2 field(s) not_ink" in res.output, res.output

    # The published count follows the steward ...
    latest = tmp_path / "releases" / "latest"
    (form,) = [json.loads(ln) for ln in (latest / "records.jsonl").read_text().splitlines()]
    assert (form["values"]["voters_total_l"], form["values"]["voters_total_p"]) == (ink_p, ink_l)
    slips = {c["field_id"]: (c["old"], c["new"]) for c in form["corrections"] if c["by"] != "auto"}
    assert slips["voters_total_l"][1] == ink_p and slips["voters_total_p"][1] == ink_l, slips
    # ... the store only what is written on the paper.
    stored = read_index(settings.learn.reviewed_dir)
    assert stored, "the ink field (votes_1) should have been stored"
    assert {r.field_id for r in stored} == {"votes_1"}
    assert not [r for r in stored if r.field_id.startswith("voters_total")]


def test_the_store_itself_refuses_an_officers_slip(tmp_path: Path) -> None:
    """Whoever cut the crops, ``reviewed_store.append`` stores no box of a decision that is not ink."""
    import numpy as np

    from load.reviewed_store import append
    from schemas.learning import StoreSkip
    from schemas.records import PageReading, Registration
    from transform.corrections import AppliedCorrection, CorrectionKind
    from transform.reviewed import LabelledField

    page = PageReading(file="a.jpg", file_sha256="0" * 64, page_index=0, fields=[],
                       registration=Registration(form_type="ppwp", page=1, homography=np.eye(3).tolist(), rotation=0,
                                                 reprojection_error=0.0, marks_found=4, method="tag+marks",
                                                 score=1.0, px_per_unit=1.0))
    d = AppliedCorrection(line=2, region_code="3273010001004", form_type="ppwp", field_id="voters_total_l", old=73,
                          new=74, reviewer="rina", confirmation=False, kind=CorrectionKind.OFFICER_SLIP)
    field = LabelledField(decision=d, page=page, crops=np.zeros((3, 32, 32), np.uint8), labels=["_", "7", "4"],
                          allowed=["0X_", "7", "4"])
    report = append(tmp_path / "store", [field], at="2026-01-01T00:00:00+00:00", model_version="m", release_id="r")
    assert report.boxes == 0 and [s.reason for s in report.skipped] == [StoreSkip.NOT_INK]
    assert read_index(tmp_path / "store") == []
