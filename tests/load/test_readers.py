"""Every table of a release read by the four readers analysts use, each with its obvious call and NO
extra argument: same rows as the manifest, and every code column a string (leading zeros kept)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import REGISTER, batch, form, sample_batch

from load.parquet_io import partition_folder
from load.release import publish, read_manifest
from load.tables import table_specs
from load.verify import verify_release

READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "pandas": lambda p: pd.read_parquet(p),
    "pyarrow.dataset": lambda p: ds.dataset(p, partitioning="hive").to_table().to_pandas(),
    "pyarrow.parquet": lambda p: pq.read_table(p).to_pandas(),
    "duckdb": lambda p: duckdb.sql(f"SELECT * FROM read_parquet('{p}/**/*.parquet', hive_partitioning=true)").df(),
    "polars": lambda p: pl.read_parquet(p).to_pandas(),
    "polars.scan": lambda p: pl.scan_parquet(p).collect().to_pandas(),
}
CODES = ("province_code", "kabkota_code", "kecamatan_code", "desa_code", "tps_code", "tps_number", "region_code")


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("rel")
    full = publish(sample_batch(), root / "a", release_id="full", register=REGISTER)
    # one form, no register: d_hasil, d_hasil_desa, issues and reconciliation have no rows
    small = publish(batch([form("0101010001001")]), root / "b", release_id="small")
    return {"full": full, "small": small}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("which", ["full", "small"])
def test_every_table_reads_with_the_obvious_call(releases: dict[str, Path], which: str, reader: str) -> None:
    rel = releases[which]
    m = read_manifest(rel)
    for name, spec in table_specs().items():
        df = READERS[reader](rel / name)
        assert len(df) == m.tables[name].rows, (name, reader)
        assert {c.name for c in spec.columns} <= set(df.columns), (name, reader)
        for col in (c for c in CODES if c in df.columns):
            values = [v for v in df[col].tolist() if v is not None and not pd.isna(v)]
            assert all(isinstance(v, str) for v in values), (name, reader, col, values[:3])
        if len(df) and "province_code" in df.columns and which == "full" and spec.partition:
            assert "01" in set(df["province_code"]), (name, reader)  # the leading zero survives
    if which == "small":
        assert m.tables["d_hasil"].rows == 0 and m.tables["issues"].rows == 0


def test_duckdb_types_codes_as_varchar(releases: dict[str, Path]) -> None:
    rel = releases["full"]
    for name in table_specs():
        rel_ = duckdb.sql(f"SELECT * FROM read_parquet('{rel / name}/**/*.parquet', hive_partitioning=true)")
        types = dict(zip(rel_.columns, (str(t) for t in rel_.types), strict=True))
        assert all(types[c] == "VARCHAR" for c in CODES if c in types), (name, types)


def test_partition_folder_is_not_numeric_looking() -> None:
    assert partition_folder("province_code", "01") == "province=p01"
    assert partition_folder("province_code", None) == "province=empty"
    with pytest.raises(ValueError):
        partition_folder("province_code", "../x")


def test_carrying_from_a_parent_with_the_old_layout(tmp_path: Path) -> None:
    """A parent release written before the layout change (``province_code=NN/`` folders): its files are
    carried into the new folders, same bytes, and the new release reads with the obvious call."""
    r1 = publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    mpath = r1 / "manifest.json"
    m = json.loads(mpath.read_text())
    for e in m["files"]:  # rewrite r1 as the old pindai wrote it
        if e["kind"] == "table" and e["province_code"]:
            old = e["path"].replace(f"province=p{e['province_code']}", f"province_code={e['province_code']}")
            (r1 / old).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(r1 / e["path"], r1 / old)
            e["path"] = old
    for d in [d for d in r1.glob("*/province=*") if d.is_dir()]:
        d.rmdir()
    mpath.write_text(json.dumps(m))
    r2 = publish(batch([form("3273010001001", seed=20)]), tmp_path, release_id="r2", register=REGISTER,
                 provinces=["32"])
    assert not list(r2.glob("*/province_code=*")) and (r2 / "c_hasil" / "province=p01" / "part-0.parquet").is_file()
    assert verify_release(r2).ok
    m2 = read_manifest(r2)
    carried = [f for f in m2.files if f.carried_from == "r1"]
    assert carried and all("/province=p01/" in f.path for f in carried)
    c = pd.read_parquet(r2 / "c_hasil")
    assert sorted(set(c.province_code)) == ["01", "32"] and len(c) == m2.tables["c_hasil"].rows


def test_the_release_readme_opens_with_reads_that_work(releases: dict[str, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first code block of the release README, run as written from inside the release, on every table."""
    rel = releases["full"]
    text = (rel / "README.md").read_text()
    head = text[:text.index("| table |")]
    block = head.split("```python\n", 1)[1].split("```", 1)[0]
    reads = [line for line in block.splitlines() if "c_hasil" in line]
    assert len(reads) == 4
    for name, spec in table_specs().items():
        assert f"| `{name}` | {spec.grain} |" in text and spec.grain
    monkeypatch.chdir(rel)
    m = read_manifest(rel)
    for name in table_specs():
        scope: dict = {}
        exec(block.replace("c_hasil", name), scope)  # noqa: S102 - the README's own lines
        assert len(scope["df"]) == len(scope["t"]) == len(scope["rel"].df()) == m.tables[name].rows
        for frame in (scope["df"].to_pandas(), scope["t"].to_pandas(), scope["rel"].df()):
            if "province_code" in frame.columns and len(frame):
                assert all(isinstance(v, str) for v in frame["province_code"].dropna()), name


def test_readme_checksums_catch_a_flipped_byte(tmp_path: Path) -> None:
    """The README's sha256sum block, run as its own line says, for readers who skip `pindai release verify`."""
    import subprocess

    rel = publish(sample_batch(), tmp_path, release_id="r1", register=REGISTER)
    text = (rel / "README.md").read_text()
    command = text.split("## Checksums", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    ok = subprocess.run(["bash", "-c", command], cwd=rel, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.count(": OK") == len(list(rel.rglob("*.parquet")))
    victim = rel / "votes" / "province=p32" / "part-0.parquet"
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))
    bad = subprocess.run(["bash", "-c", command], cwd=rel, capture_output=True, text=True)
    assert bad.returncode != 0 and "votes/province=p32/part-0.parquet: FAILED" in bad.stdout
