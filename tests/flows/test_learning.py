"""Learning from the stewards: review apply stores labelled crops, model update fine-tunes, compares
and promotes, the reader then uses the promoted model and its version goes into provenance."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from extract.digits import DigitReader, _model_files
from extract.model_store import current_model, promote
from flows.cli import EXIT_INPUT, EXIT_NO_TRAIN, app
from flows.pipeline import run_pipeline
from load.reviewed_store import read_store
from schemas.learning import StoreSkip, UpdateVerdict, is_held_out
from schemas.records import DIGIT_CLASSES
from schemas.settings import Settings
from schemas.truth import TruthForm
from transform.corrections import AppliedCorrection
from transform.reviewed import box_labels, label_decisions

# What a box holds as the generator wrote it -> the class the reader should give it.
WRITTEN = {"X": "X", "-": "X", "": "_", **{d: d for d in "0123456789"}}


def _truth(batch: Path) -> list[TruthForm]:
    return [TruthForm.model_validate_json(line) for line in (batch / "truth.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def loop(prefect_server, small_batch: Path, tmp_path_factory: pytest.TempPathFactory):
    """A batch read, then every field of every form decided by a steward (the values on paper)."""
    root = tmp_path_factory.mktemp("learning")
    batch = root / "batch"
    shutil.copytree(small_batch, batch)
    truth = _truth(batch)
    keys = [(t.region_code, t.form_type.value) for t in truth]
    # The smallest modulus that puts forms on both sides of the held-out split.
    every = next(k for k in range(2, 12) if 0 < sum(is_held_out(*key, k) for key in keys) < len(keys))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PINDAI_STATE_DIR", str(root / "state"))
        mp.setenv("PINDAI_HELD_OUT_EVERY", str(every))
        settings = Settings.from_env(workers=1, cache_dir=str(root / "cache"))
        _, release = run_pipeline(batch, root / "releases", settings)
        rows = [{"region_code": t.region_code, "form_type": t.form_type.value, "field_id": fid, "old_value": "",
                 "new_value": "-" if v is None else str(v), "reviewer": "Rina Wulandari", "reason": ""}
                for t in truth for fid, v in t.values.items()]
        with open(root / "corrections.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        res = CliRunner().invoke(app, ["review", "apply", str(root / "corrections.csv"),
                                       "--releases", str(root / "releases")])
        assert res.exit_code == 0, res.output
        yield {"root": root, "batch": batch, "truth": truth, "settings": settings, "release": release,
               "output": res.output, "every": every, "mp": mp}


def test_review_apply_stores_labelled_crops(loop) -> None:
    assert "labelled crops:" in loop["output"]
    store = read_store(loop["settings"].learn.reviewed_dir)
    truth = {(t.region_code, t.form_type.value): t for t in loop["truth"]}
    assert len(store) == sum(len(b) for t in truth.values() for b in t.boxes.values())  # every box of every field
    for r, y in zip(store.rows, store.y, strict=True):
        written = WRITTEN[truth[(r.region_code, r.form_type)].boxes[r.field_id][r.box]]
        assert DIGIT_CLASSES[y] == r.label
        assert written in r.allowed, (r, written)
        if len(r.allowed) == 1:  # the value's own digits: exact
            assert r.label == written
        assert r.steward.startswith("steward-") and "Rina" not in r.steward  # a pseudonym, never the name
    assert {r.decision for r in store.rows} >= {"confirmed"}
    # The crops are the reader's own: the current model gives the release's probabilities back.
    records = [json.loads(line) for line in (loop["release"] / "records.jsonl").read_text().splitlines()]
    probs = {(f["region_code"], f["form_type"], r["field_id"], i): d["probs"]
             for f in records for r in f["readings"] for i, d in enumerate(r["digits"])}
    want = np.array([probs[(r.region_code, r.form_type, r.field_id, r.box)] for r in store.rows])
    got = DigitReader().predict(store.x)
    assert np.abs(got - want).max() < 1e-4


def test_held_out_split_is_by_form(loop) -> None:
    store = read_store(loop["settings"].learn.reviewed_dir)
    by_form: dict[tuple[str, str], set[bool]] = {}
    for r in store.rows:
        by_form.setdefault((r.region_code, r.form_type), set()).add(r.held_out)
        assert r.held_out == is_held_out(r.region_code, r.form_type, loop["every"])
    assert all(len(v) == 1 for v in by_form.values())  # never a form on both sides
    assert {next(iter(v)) for v in by_form.values()} == {True, False}


def test_a_page_that_cannot_be_read_again_is_recorded_not_raised(loop, tmp_path: Path) -> None:
    from load.catalogue import open_release

    forms = open_release(loop["release"]).records
    f = forms[0]
    decisions = [AppliedCorrection(line=2, region_code=f.region_code, form_type=f.form_type.value,
                                   field_id=r.field_id, old=r.value, new=r.value, reviewer="budi", confirmation=True)
                 for r in f.readings[:3]]
    _, skipped = label_decisions(forms, decisions, tmp_path / "moved-away")
    assert [s.reason for s in skipped] == [StoreSkip.SOURCE_MISSING] * 3
    changed = tmp_path / "changed"
    shutil.copytree(loop["batch"], changed)
    for name in {p.file for p in f.pages}:
        (changed / name).write_bytes((changed / name).read_bytes() + b"\0")
    _, skipped = label_decisions(forms, decisions, changed)
    assert {s.reason for s in skipped} == {StoreSkip.SOURCE_CHANGED}


def test_box_labels_follow_how_numbers_are_written() -> None:
    p = [[0.0] * 12 for _ in range(4)]
    p[0][10] = 0.9  # the reader saw an X in the first leading box, a 0 in the second
    p[1][0] = 0.9
    labels, allowed = box_labels(17, p)
    assert labels == ["X", "0", "1", "7"] and allowed == ["0X_", "0X_", "1", "7"]
    labels, allowed = box_labels(None, p)
    assert allowed == ["X_"] * 4 and labels[0] == "X"
    assert box_labels(12345, p) is None


def test_model_update_promotes_only_a_better_model_and_the_reader_uses_it(loop) -> None:
    torch = pytest.importorskip("torch", reason="the train extra (make test installs it)")

    from training.update import UpdateOptions, decide, update_model

    torch.set_num_threads(1)
    learn = loop["settings"].learn
    opts = UpdateOptions(samples=512, batch=128, base_train=300, base_calib=200, base_test=200, seed=1)
    report = update_model(learn.reviewed_dir, learn.models_dir, opts, log=lambda m: None)
    assert Path(report["report"]).is_file()
    s = report["scores"]
    assert s["current"]["reviewed"]["boxes"] == s["candidate"]["reviewed"]["boxes"] > 0
    assert [v.value for v in decide(s["current"], s["candidate"], opts.base_tolerance)] == report["verdicts"]
    assert report["promoted"] == (report["verdicts"] == [UpdateVerdict.PROMOTED.value])
    # the test-time shifts travel with the pair, their temperature fitted again for the new networks
    assert (report["jitter_temperature"] is not None) == (DigitReader().jitter is not None)
    if report["promoted"]:
        files = current_model(learn.models_dir)
        assert files is not None and files.version == report["candidate"]
        meta = json.loads(files.meta.read_text())
        assert set(json.loads(_model_files()[1].read_text())) <= set(meta)  # the packaged model's keys, and more
        assert meta["parent_version"] == report["current"]
        assert meta["accept_threshold"] >= DigitReader().accept_threshold  # never loosened
        if report["jitter_temperature"] is not None:
            assert meta["jitter"]["temperature"] == report["jitter_temperature"]
    else:  # the rule said no: promote a real model by hand to check the reader's side of the store
        promote(learn.models_dir, _model_files()[0], {**DigitReader().meta, "version": "digits-test-promoted"})
    files = current_model(learn.models_dir)
    version = files.version
    second = json.loads(files.meta.read_text()).get("second_opinion")
    if second:  # the second opinion's network travels with the model
        assert (files.onnx.parent / second["model"]).is_file()

    res = CliRunner().invoke(app, ["model", "status"])
    assert res.exit_code == 0 and version in res.output and "held out" in res.output

    # The next run reads with the promoted model (the per-file cache does not hide it) and says so.
    cache = Path(loop["settings"].cache_dir)
    before = {p.name for p in cache.rglob("*.json")}
    _, release = run_pipeline(loop["batch"], loop["root"] / "releases", loop["settings"])
    after = {p.name for p in cache.rglob("*.json")}
    assert before and len(after - before) == len(before)  # every file read again, under new keys
    assert json.loads((release / "manifest.json").read_text())["model_version"] == version
    part = ds.partitioning(pa.schema([("province_code", pa.string())]), flavor="hive")
    prov = ds.dataset(release / "provenance", format="parquet", partitioning=part).to_table().to_pylist()
    assert prov and {r["model_version"] for r in prov} == {version}


def test_model_update_errors_are_clear(loop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    if importlib.util.find_spec("torch") is not None:
        res = runner.invoke(app, ["model", "update", "--reviewed-dir", str(tmp_path / "empty"),
                                  "--models-dir", str(tmp_path / "models")])
        assert res.exit_code == EXIT_INPUT and "empty_store" in res.output
    monkeypatch.setitem(sys.modules, "torch", None)  # as if the train extra were not installed
    res = runner.invoke(app, ["model", "update", "--reviewed-dir", str(tmp_path / "empty")])
    assert res.exit_code == EXIT_NO_TRAIN and "no_torch" in res.output and "train" in res.output
