"""Publication guarantees: determinism, carry-over of other provinces, atomicity, verification."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from conftest import REGISTER, batch, form, sample_batch

from load.catalogue import latest as latest_release
from load.catalogue import read_manifest
from load.release import CarryOverError, publish
from load.tables import table_specs
from load.verify import verify_release
from schemas.reasons import Status

PART = ds.partitioning(pa.schema([("province_code", pa.string())]), flavor="hive")


def _parquet_bytes(release: Path) -> dict[str, bytes]:
    return {p.relative_to(release).as_posix(): p.read_bytes() for p in sorted(release.rglob("*.parquet"))}


def test_publish_twice_gives_identical_parquet(tmp_path: Path) -> None:
    a = publish(sample_batch(), tmp_path, release_id="a", register=REGISTER)
    shuffled = sample_batch()
    shuffled.forms.reverse()  # input order must not matter
    shuffled.files.reverse()
    b = publish(shuffled, tmp_path, release_id="b", register=REGISTER)
    pa_, pb = _parquet_bytes(a), _parquet_bytes(b)
    assert pa_ and pa_ == pb
    assert (a / "records.jsonl").read_bytes() == (b / "records.jsonl").read_bytes()
    assert latest_release(tmp_path) == b.resolve()


def test_release_layout_manifest_and_run_files(tmp_path: Path) -> None:
    rel = publish(sample_batch(), tmp_path, input_dir=Path("/in"), release_id="r1", register=REGISTER)
    assert (tmp_path / "latest").is_symlink() and os.readlink(tmp_path / "latest") == "r1"
    assert (rel / "c_hasil" / "province=p01" / "part-0.parquet").is_file()
    m = read_manifest(rel)
    assert m.schema_version and m.pipeline_version == "0.1.0-test" and m.model_version == "digits-test-1"
    listed = {f.path for f in m.files}
    assert {"run.json", "records.jsonl", "README.md", "datapackage.json", "files/part-0.parquet"} <= listed
    assert m.tables["c_hasil"].rows == 8 and len(m.inputs) == 10
    assert all(len(i.sha256) == 64 for i in m.inputs)
    run = json.loads((rel / "run.json").read_text())
    assert run["release_id"] == "r1" and run["summary"]["files"] == 10 and len(run["files"]) == 10
    assert len((rel / "records.jsonl").read_text().splitlines()) == 9
    assert verify_release(rel).ok
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_release_ids_are_immutable_and_checked(tmp_path: Path) -> None:
    publish(batch([form("0101010001001")]), tmp_path, release_id="r1")
    with pytest.raises(FileExistsError):
        publish(batch([form("0101010001002")]), tmp_path, release_id="r1")
    for bad in ("../x", "latest", ".hidden", "a/b"):
        with pytest.raises(ValueError):
            publish(batch([form("0101010001001")]), tmp_path, release_id=bad)
    assert os.readlink(tmp_path / "latest") == "r1"


def test_publishing_one_province_carries_the_others(tmp_path: Path) -> None:
    r1 = publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    # A rerun of province 32 only: new numbers for its TPS, plus a form of province 01 that must NOT
    # replace province 01 (not selected).
    new32 = [form("3273010001001", seed=20), form("3273010001003", seed=21, status=Status.NEEDS_REVIEW),
             form("0101010001001", seed=30)]
    r2 = publish(batch(new32), tmp_path, release_id="r2", register=REGISTER, provinces=["32"])
    assert latest_release(tmp_path) == r2.resolve()
    m1, m2 = read_manifest(r1), read_manifest(r2)
    old01 = {f.path: f for f in m1.files if f.province_code == "01"}
    new01 = {f.path: f for f in m2.files if f.province_code == "01"}
    assert old01.keys() == new01.keys() and old01
    for path, e in new01.items():
        assert (r2 / path).read_bytes() == (r1 / path).read_bytes()
        assert e.sha256 == old01[path].sha256 and e.carried_from == "r1"
    assert all(f.carried_from is None for f in m2.files if f.province_code == "32")
    assert m2.provinces == ["32"] and m2.base_release == "r1"
    c = pd.read_parquet(r2 / "c_hasil", partitioning=PART)
    c32 = c[c.province_code == "32"]
    assert sorted(c32.tps_code) == ["3273010001001", "3273010001003"]  # the old copy of 002 is gone
    assert c[c.tps_code == "0101010001001"].set_index("form_type").loc["ppwp", "votes_1"] == 31  # not 60
    f = pd.read_parquet(r2 / "files" / "part-0.parquet")
    assert "0101010001002_ppwp.pdf" in set(f.file) and "3273010001003_ppwp.pdf" in set(f.file)
    assert "3273010001002_ppwp-salinan.pdf" not in set(f.file)  # province 32 replaced
    assert "junk/photo.jpg" in set(f.file)  # unknown region: kept until read again
    codes = [json.loads(line)["region_code"] for line in (r2 / "records.jsonl").read_text().splitlines()]
    assert codes == sorted(codes) and "0101010001002" in codes and "3273010001002" not in codes
    inputs = {i.file: i.release_id for i in m2.inputs}
    assert inputs["0101010001002_ppwp.pdf"] == "r1" and inputs["3273010001003_ppwp.pdf"] == "r2"
    assert verify_release(r2).ok
    # and again for 01: province 32 now comes from r2, and is carried as such
    r3 = publish(batch([form("0101010001001", seed=1)]), tmp_path, release_id="r3", provinces=["01"])
    m3 = read_manifest(r3)
    assert {f.carried_from for f in m3.files if f.province_code == "32"} == {"r2"}
    assert all((r3 / f.path).read_bytes() == (r2 / f.path).read_bytes()
               for f in m3.files if f.province_code == "32")
    assert verify_release(r3).ok


def test_carry_over_refuses_a_damaged_previous_release(tmp_path: Path) -> None:
    r1 = publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    victim = r1 / "c_hasil" / "province=p01" / "part-0.parquet"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(CarryOverError):
        publish(batch([form("3273010001001")]), tmp_path, release_id="r2", provinces=["32"])
    assert latest_release(tmp_path) == r1.resolve() and not (tmp_path / "r2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]


def _failing_specs(table: str) -> dict:
    def boom(ctx: object) -> list[dict]:
        raise OSError(28, "No space left on device")

    specs = dict(table_specs())
    specs[table] = dataclasses.replace(specs[table], rows=boom)
    return specs


@pytest.mark.parametrize("failing", ["c_hasil", "files"])
def test_a_failed_write_leaves_the_previous_release(tmp_path: Path, failing: str) -> None:
    r1 = publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in r1.rglob("*") if p.is_file()}
    for provinces in (None, ["32"]):
        with pytest.raises(OSError):
            publish(sample_batch(), tmp_path, release_id="r2", register=REGISTER, provinces=provinces,
                    tables=_failing_specs(failing))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "r1"]  # no r2, no staging debris
        assert os.readlink(tmp_path / "latest") == "r1"
    after = {p.relative_to(tmp_path): p.read_bytes() for p in r1.rglob("*") if p.is_file()}
    assert after == before and verify_release(r1).ok


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_releases_folder_fails_cleanly(tmp_path: Path) -> None:
    r1 = publish(sample_batch(), tmp_path, release_id="r1")
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            publish(sample_batch(), tmp_path, release_id="r2")
    finally:
        tmp_path.chmod(0o755)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "r1"] and verify_release(r1).ok


def test_verify_finds_flipped_byte_missing_unexpected_and_bad_manifest(tmp_path: Path) -> None:
    rel = publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    assert verify_release(tmp_path / "latest").ok
    flipped = rel / "votes" / "province=p32" / "part-0.parquet"
    data = bytearray(flipped.read_bytes())
    data[100] ^= 0x01
    flipped.write_bytes(bytes(data))
    (rel / "issues" / "province=p01" / "part-0.parquet").unlink()
    (rel / "c_hasil" / "province=p33").mkdir()
    (rel / "c_hasil" / "province=p33" / "part-0.parquet").write_bytes(b"PAR1")
    report = verify_release(rel)
    kinds = {(p.kind, p.path) for p in report.problems}
    assert kinds == {("checksum", "votes/province=p32/part-0.parquet"),
                     ("missing", "issues/province=p01/part-0.parquet"),
                     ("unexpected", "c_hasil/province=p33/part-0.parquet")}
    assert not report.ok and report.release_id == "r1" and report.files_checked > 10

    m = json.loads((rel / "manifest.json").read_text())
    entry = next(f for f in m["files"] if f["path"] == "c_hasil/province=p01/part-0.parquet")
    entry["rows"] += 1
    (rel / "manifest.json").write_text(json.dumps(m))
    assert ("rows", "c_hasil/province=p01/part-0.parquet") in {(p.kind, p.path)
                                                                  for p in verify_release(rel).problems}
    (rel / "manifest.json").write_text("{not json")
    assert [p.kind for p in verify_release(rel).problems] == ["manifest"]
    assert [p.kind for p in verify_release(tmp_path / "nope").problems] == ["manifest"]
