"""The whole life of a batch through the CLI (issue #13): nothing an operator or a steward did is
ever undone by a later command.

run with a register -> review apply a correction -> rerun-failed (nothing failed) -> a new batch of
more files into the same releases folder -> review apply again -> a run with a forced failure (a
PDF whose renderer times out) -> rerun-failed. After every step: every correction and the register
are in force, ``latest`` moved only when something changed, and each manifest names its parent.
The same life with relative paths, each command run from another folder.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from PIL import Image
from typer.testing import CliRunner

from flows.cli import app
from load.catalogue import open_release
from schemas.truth import TruthForm
from transform.corrections import COLUMNS, template_rows

MINI = Path(__file__).resolve().parents[2] / "schemas" / "data" / "register-mini.json"


def _cli(*args: str) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, f"pindai {' '.join(map(str, args))} exited {res.exit_code}:\n{res.output}"
    return res.output


def _generate(out: Path, province: str, forms: int, seed: int) -> dict[tuple[str, str], TruthForm]:
    _cli("generate", out, "--forms", forms, "--province", province, "--seed", seed, "--quality", "scan",
         "--form-type", "ppwp", "--inconsistent-rate", "1.0", "--workers", "1")
    truth = [TruthForm.model_validate_json(x) for x in (out / "truth.jsonl").read_text().splitlines()]
    (out / "truth.jsonl").unlink()  # not an input
    return {(t.region_code, t.form_type.value): t for t in truth}


def _as_pdf(folder: Path) -> None:
    """Every form of ``folder`` as one PDF of its pages (the renderer is what the test times out)."""
    pages: dict[str, list[Path]] = {}
    for p in sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png")):
        pages.setdefault(p.name.rsplit("_p", 1)[0], []).append(p)
    for stem, files in pages.items():
        images = [Image.open(f).convert("RGB") for f in sorted(files)]
        images[0].save(folder / f"{stem}.pdf", save_all=True, append_images=images[1:], resolution=200)
        for f in files:
            f.unlink()


class Life:
    """One releases folder, its expected state, and the checks run after every step."""

    def __init__(self, releases: Path, register_sha: str) -> None:
        self.releases = releases  # as the commands see it (maybe relative)
        self.register_sha = register_sha
        self.corrections: list[tuple[str, str, str, int | None]] = []  # (tps, form, field, new) in force
        self.latest: str | None = None

    def step(self, changed: bool) -> None:
        rel = open_release(self.releases)
        if not changed:
            assert rel.id == self.latest, "latest moved though nothing changed"
            return
        assert rel.id != self.latest, "latest did not move"
        lin = rel.manifest.lineage
        assert rel.manifest.base_release == self.latest and lin.base_release == self.latest  # names its parent
        self.latest = rel.id
        # the register in force: recorded, kept in the release, and used (names in the tables)
        assert lin.tps_register is not None and lin.tps_register.sha256 == self.register_sha
        assert rel.register() is not None and rel.register().sha256 == self.register_sha
        c_hasil = ds.dataset(rel.path / "c_hasil", format="parquet", partitioning="hive").to_table().to_pylist()
        assert c_hasil and all(r["desa_name"] for r in c_hasil), "region names lost: the register is not in force"
        cov = ds.dataset(rel.path / "coverage", format="parquet", partitioning="hive").to_table().num_rows
        self.coverage = getattr(self, "coverage", cov)
        assert cov == self.coverage  # every region of the register, whatever the batch holds
        # every correction in force: in the ledger, in the record, in the table
        ledger = {(e.region_code, e.form_type, e.field_id, e.new) for e in rel.ledger}
        assert ledger == set(self.corrections) and lin.corrections.entries == len(self.corrections)
        records = {(f.region_code, f.form_type.value): f for f in rel.records}
        rows = {(r["tps_code"], r["form_type"]): r for r in c_hasil}
        for code, ft, fid, new in self.corrections:
            f = records[(code, ft)]
            assert f.values[fid] == new and any(c.field_id == fid and c.by.startswith("steward-")
                                                for c in f.corrections), (code, fid)
            assert rows[(code, ft)][fid] == new
        assert "siti" not in (rel.path / "corrections.jsonl").read_text()  # pseudonyms only

    def correction(self, truth: dict, work: Path, name: str, exclude: set[str] = frozenset()) -> Path:
        """A corrections.csv deciding one doubtful field of a flagged form (the truth's value)."""
        rel = open_release(self.releases)
        row = next(r for r in template_rows(rel.records) if r["region_code"] not in exclude
                   and (r["region_code"], r["form_type"]) in truth)
        t = truth[(row["region_code"], row["form_type"])]
        new = t.values.get(row["field_id"])
        current = None if row["old_value"] == "-" else int(row["old_value"])
        if new == current:  # the reading is right: decide another value to see it travel
            new = (current or 0) + 1
        row.update(new_value="-" if new is None else str(new), reviewer="siti", reason="checked on paper")
        path = work / name
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            w.writerow(row)
        self.corrections.append((row["region_code"], row["form_type"], row["field_id"], new))
        return path


def _life(base: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch, relative: bool) -> None:
    import hashlib

    work = base / "work"
    (work / "input").mkdir(parents=True)
    register = shutil.copy(MINI, work / "tps-register.json")
    sha = hashlib.sha256(Path(register).read_bytes()).hexdigest()

    def p(path: Path) -> Path:  # as the operator types it, from the folder they are in
        return Path("..") / path.relative_to(base) if relative else path

    folders = [base / "a", base / "b", base / "c"]
    for f in folders:
        f.mkdir()
    monkeypatch.chdir(folders[0] if relative else cwd)
    life = Life(p(work / "releases"), sha)
    truth = _generate(work / "input" / "first", "32", 2, 11)

    # 1. a run with a register
    _cli("run", p(work / "input"), "--out", p(work / "releases"), "--register", p(Path(register)), "--workers", "1")
    life.step(changed=True)
    assert open_release(life.releases).manifest.lineage.command == "run"

    # 2. a steward's correction (no --register: the release's own is in force)
    _cli("review", "apply", p(life.correction(truth, work, "c1.csv")), "--releases", p(work / "releases"))
    life.step(changed=True)
    lin = open_release(life.releases).manifest.lineage
    assert lin.command == "review-apply" and lin.corrections.added == 1
    assert lin.tps_register.carried_from is not None and lin.tps_register.source == "tps-register.json"
    # ... an unfilled template and a row deciding what is decided already publish nothing
    rel = open_release(life.releases)
    empty = work / "empty.csv"
    with open(empty, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(template_rows(rel.records))
    assert "nothing to apply" in _cli("review", "apply", p(empty), "--releases", p(work / "releases"))
    life.step(changed=False)
    code, ft, fid, new = life.corrections[0]
    same = work / "same.csv"
    same.write_text(",".join(COLUMNS) + f"\n{code},{ft},{fid},{new},{new},siti,again\n")
    assert "decide what is decided already" in _cli("review", "apply", p(same), "--releases", p(work / "releases"))
    life.step(changed=False)

    # 3. rerun-failed with nothing failed: nothing read, nothing published
    monkeypatch.chdir(folders[1] if relative else cwd)
    assert "nothing failed" in _cli("rerun-failed", p(work / "releases"))
    life.step(changed=False)

    # 4. a new batch of more files into the same input and releases folders (no --register)
    truth |= _generate(work / "input" / "second", "31", 2, 12)
    _cli("run", p(work / "input"), "--out", p(work / "releases"), "--workers", "1")
    life.step(changed=True)
    assert len(open_release(life.releases).records) == 4

    # 5. a second correction, on the new batch
    firsts = {c[0] for c in life.corrections}
    _cli("review", "apply", p(life.correction(truth, work, "c2.csv", firsts)), "--releases", p(work / "releases"))
    life.step(changed=True)

    # 6. a forced failure (the PDF renderer given no time), then rerun-failed reads it
    monkeypatch.chdir(folders[2] if relative else cwd)
    third = work / "input" / "third"
    truth |= _generate(third, "33", 1, 13)
    _as_pdf(third)
    monkeypatch.setenv("PINDAI_PDFTOPPM_TIMEOUT_S", "0.001")
    _cli("run", p(work / "input"), "--out", p(work / "releases"), "--workers", "1")
    life.step(changed=True)
    failed = [f for f in open_release(life.releases).run.files if f.status.value == "failed"]
    assert [f.file.endswith(".pdf") for f in failed] == [True]
    monkeypatch.delenv("PINDAI_PDFTOPPM_TIMEOUT_S")
    _cli("rerun-failed", p(work / "releases"))
    life.step(changed=True)
    rel = open_release(life.releases)
    assert rel.manifest.lineage.command == "rerun-failed"
    assert not [f for f in rel.run.files if f.status.value == "failed"] and len(rel.records) == 5
    assert json.loads((rel.path / "manifest.json").read_text())["lineage"]["policy_version"]
    status = _cli("status", p(work / "releases"))
    assert f"made by rerun-failed from {rel.manifest.base_release}" in status
    assert "register tps-register.json; corrections in force 2" in status


def test_life_of_a_batch(prefect_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _life(tmp_path, tmp_path, monkeypatch, relative=False)


def test_life_of_a_batch_with_relative_paths_from_other_folders(prefect_server, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _life(tmp_path, tmp_path, monkeypatch, relative=True)
