"""Release tables: rows, names and values as analysts read them (default reads; see test_readers.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from conftest import REGISTER, batch, form, sample_batch

from load.release import publish
from load.tables import pseudonym, table_specs
from schemas.layout import FormType, load_layout


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish(sample_batch(), tmp_path_factory.mktemp("rel"), release_id="r1", register=REGISTER)


def test_c_hasil_rows_names_and_values(release: Path) -> None:
    df = ds.dataset(release / "c_hasil", partitioning="hive").to_table().to_pandas()
    assert len(df) == 8  # 6 PPWP plano/copy + 1 copy + 1 DPR
    row = df[(df.tps_code == "0101010001901") & (df.form_type == "ppwp")].iloc[0]
    assert (row.province_code, row.kabkota_code, row.kecamatan_code, row.desa_code, row.tps_number) == \
        ("01", "0101", "010101", "0101010001", "901")
    assert (row.province_name, row.desa_name) == ("PROVINSI NOL SATU", "DESA SATU")
    assert row.votes_1 == 33 and row.status == "verified"
    flagged = df[df.tps_code == "0101010001002"].iloc[0]
    assert flagged.status == "needs_review" and list(flagged.reasons) == ["rule_broken"]
    # every field of every C.Hasil layout is a nullable int32 column, whatever the batch holds
    schema = ds.dataset(release / "c_hasil", partitioning="hive").schema
    for ft in (FormType.PPWP, FormType.PPWP_SALINAN, FormType.DPR):
        for fid in load_layout(ft).field_ids():
            assert schema.field(fid).type == pa.int32()
    assert pd.isna(df[df.form_type == "ppwp"].iloc[0]["party_01_total"])


def test_schema_does_not_depend_on_the_batch(tmp_path: Path) -> None:
    small = publish(batch([form("0101010001001")]), tmp_path, release_id="small")
    full = publish(sample_batch(), tmp_path, release_id="full")
    for t in ("c_hasil", "votes", "provenance"):
        a = ds.dataset(small / t, partitioning="hive").schema
        b = ds.dataset(full / t, partitioning="hive").schema
        assert a.equals(b, check_metadata=True)


def test_names_null_without_register(tmp_path: Path) -> None:
    rel = publish(batch([form("0101010001001")]), tmp_path, release_id="noreg")
    df = pd.read_parquet(rel / "c_hasil")
    assert df.province_name.isna().all() and df.desa_name.isna().all()
    cov = pd.read_parquet(rel / "coverage")
    assert cov.expected.isna().all() and (cov[cov.form_type == "ppwp"].received == 1).all()


def test_votes_long_form(release: Path) -> None:
    v = pd.read_parquet(release / "votes")
    plano = v[(v.tps_code == "0101010001001") & (v.form_type == "ppwp")]
    assert list(plano.contestant) == ["paslon_1", "paslon_2", "paslon_3"]
    assert set(plano.contestant_kind) == {"candidate_pair"} and list(plano.votes) == [31, 40, 52]
    dpr = v[v.form_type == "dpr"].set_index("contestant")
    assert dpr.loc["party_01", "votes"] == 5 and dpr.loc["party_01_cand_2", "votes"] == 3
    assert dpr.loc["party_01_cand_1", "contestant_kind"] == "candidate"
    assert "party_01_cand_3" not in dpr.index  # empty candidate slot: no row
    assert len([c for c in dpr.index if c.count("_") == 1]) == 18  # every party has its party-only row
    assert not any(c.endswith("_total") for c in dpr.index)


def test_d_hasil_desa_and_reconciliation(release: Path) -> None:
    d = pd.read_parquet(release / "d_hasil")
    assert list(d.kecamatan_code) == ["010101"] and d.iloc[0].kecamatan_name == "KEC SATU"
    rows = pd.read_parquet(release / "d_hasil_desa")
    assert list(rows.row) == [1, 2] and list(rows.desa_code) == ["0101010001", "0101010002"]
    assert list(rows.desa_name) == ["DESA SATU", "DESA DUA"]
    r = pd.read_parquet(release / "reconciliation")
    kec = r[r.desa_code.isna()].set_index("field_id")
    # plano preferred over the copy of the same TPS: 4 TPS forms; the flagged form's +10 shows up
    assert (kec.tps_forms == 4).all() and (kec.tps_expected == 4).all() and kec.complete.all()
    assert kec.loc["valid_votes", "difference"] == -10 and not kec.loc["valid_votes", "matches"]
    assert kec.loc["votes_1", "difference"] == 0 and kec.loc["votes_1", "matches"]
    desa1 = r[r.desa_code == "0101010001"].set_index("field_id")
    assert desa1.loc["valid_votes", "tps_forms"] == 3 and desa1.loc["valid_votes", "difference"] == -10
    desa2 = r[r.desa_code == "0101010002"].set_index("field_id")
    assert (desa2.difference == 0).all() and (desa2.desa_row == 2).all()


def test_coverage_counts(release: Path) -> None:
    c = pd.read_parquet(release / "coverage").set_index(["region_code", "form_type"])
    p01 = c.loc[("01", "ppwp")]
    assert (p01.level, p01.expected, p01.received, p01.verified, p01.needs_review) == ("province", 4, 4, 3, 1)
    assert c.loc[("0101", "ppwp")].kabkota_name == "KAB SATU"
    assert c.loc[("01", "ppwp-salinan")].received == 1
    assert c.loc[("01", "dhasil-ppwp")].unit == "kecamatan" and c.loc[("01", "dhasil-ppwp")].received == 1
    assert c.loc[("3273", "ppwp")].expected == 3 and c.loc[("3273", "ppwp")].received == 1
    assert c.loc[("3273", "ppwp")].received_share == pytest.approx(1 / 3)
    assert c.loc[("32", "dpr")].not_in_register == 0


def test_issues_provenance_files(release: Path) -> None:
    i = pd.read_parquet(release / "issues")
    assert list(i.rule_id) == ["R3"] and i.iloc[0].expected == 126 and i.iloc[0].found == 136
    assert i.iloc[0].message_en.startswith("Valid votes")
    p = pd.read_parquet(release / "provenance")
    flagged = p[p.region_code == "0101010001002"].set_index("page")
    assert list(flagged.index) == [1, 2, 3]
    assert flagged.loc[1, "source_file"] == "0101010001002_ppwp.pdf" and flagged.loc[1, "model_version"]
    by_field = {c["field_id"]: c for pg in (1, 2) for c in flagged.loc[pg, "corrections"]}
    assert by_field["dpt_l"]["by"] == "auto" and by_field["dpt_l"]["new"] == 102
    assert by_field["votes_1"]["by"] == pseudonym("Budi Santoso") != "Budi Santoso"
    assert len(flagged.loc[2, "corrections"]) == 1  # votes_1 is on page 2 of the plano
    f = pd.read_parquet(release / "files" / "part-0.parquet")
    assert len(f) == 10
    junk = f[f.file == "junk/photo.jpg"].iloc[0]
    assert junk.status == "rejected" and list(junk.reasons) == ["bad_name"] and pd.isna(junk.province_code)


def test_nothing_personal_in_the_release(release: Path) -> None:
    for path in release.rglob("*"):
        if path.is_file():
            assert b"Budi" not in path.read_bytes(), path
    assert not list(release.rglob("*.png")) and not list(release.rglob("*.jpg"))


def test_datapackage_and_readme_describe_every_column(release: Path) -> None:
    dp = json.loads((release / "datapackage.json").read_text())
    assert dp["profile"] == "data-package"
    res = {r["table"]: r for r in dp["resources"]}  # one resource per file; same schema for a table
    specs = table_specs()
    assert set(res) == set(specs)  # the sample fills every table
    for name, spec in specs.items():
        fields = res[name]["schema"]["fields"]
        assert [f["name"] for f in fields] == [c.name for c in spec.columns]
        assert all(f["description"] for f in fields)
    assert all((release / r["path"]).is_file() for r in dp["resources"])
    votes_1 = next(f for f in res["c_hasil"]["schema"]["fields"] if f["name"] == "votes_1")
    assert votes_1["label_id"] == "Jumlah Suara Sah Pasangan Calon Nomor Urut 1"
    assert votes_1["label_en"] and votes_1["type"] == "integer"
    readme = (release / "README.md").read_text()
    for name in specs:
        assert f"### `{name}`" in readme
    assert "hive_types" not in readme and "Jumlah Suara Sah Pasangan Calon Nomor Urut 1" in readme
