"""Deterministic Parquet writing: the same table gives the same bytes.

No timestamps are written (Parquet has none unless asked; pandas metadata is never attached since
tables come from ``pa.Table.from_pylist``); every writer option that could drift with a library
default is pinned here. ``created_by`` names the pyarrow version, so identical bytes need the same
pyarrow: part of the pipeline version contract.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pandas as pd

_SAFE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")

WRITE_OPTIONS = dict(
    compression="zstd",
    compression_level=6,
    use_dictionary=True,
    write_statistics=True,
    version="2.6",
    data_page_version="1.0",
    store_schema=True,
    row_group_size=1 << 20,
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def write_parquet(table: pa.Table, path: Path, sort_keys: tuple[str, ...] = ()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = table.schema.names
    sorting = [pq.SortingColumn(names.index(k)) for k in sort_keys if k in names]
    with open(path, "wb") as fh:
        pq.write_table(table, fh, sorting_columns=sorting or None, **WRITE_OPTIONS)


# Partition folders: ``<table>/province=p32/part-0.parquet``. The folder key is NOT the column name
# and its value is not numeric-looking, on purpose: a folder named ``province_code=32`` makes pandas and
# pyarrow refuse the table (the file's string column clashes with the dictionary<int32> they infer
# from the folder) and DuckDB hand back BIGINT. With another key whose values start with a letter,
# pandas.read_parquet(dir), pyarrow.dataset(dir, partitioning="hive"), pq.read_table(dir), DuckDB's
# read_parquet(..., hive_partitioning=true) and polars.read_parquet(dir) all read every table with no
# extra argument: ``province_code`` comes from the files as a string, and the extra ``province``
# column ("p32") is a string too, usable to prune folders.
FOLDER_KEYS = {"province_code": ("province", "p")}
EMPTY_FOLDER = "empty"  # the value of the one zero-row file of a partitioned table without rows
PART_FILE = "part-0.parquet"


def partition_folder(column: str, value: str | None) -> str:
    """The folder of one partition value: ``province_code``, "32" -> ``province=p32``; None (a table
    without rows) -> ``province=empty``. The one place a partition folder name is built."""
    key, prefix = FOLDER_KEYS.get(column, (column, column[:1]))
    if value is None:
        return f"{key}={EMPTY_FOLDER}"
    if not _SAFE.match(str(value)):  # a partition value becomes a folder name
        raise ValueError(f"unsafe {column} value {value!r}")
    return f"{key}={prefix}{value}"


def partition_path(table: str, column: str, value: str | None, file: str = PART_FILE) -> str:
    """Release-relative path of a partition's file, e.g. ``c_hasil/province=p32/part-0.parquet``."""
    return f"{table}/{partition_folder(column, value)}/{file}"


def write_partitioned(table: pa.Table, out_dir: Path, partition: str | None,
                      sort_keys: tuple[str, ...] = ()) -> list[tuple[Path, str | None, int]]:
    """Write ``table`` under ``out_dir``: one ``part-0.parquet`` per value of ``partition`` in its
    ``partition_folder`` (hive style), or one ``part-0.parquet`` when unpartitioned.

    The partition column stays inside each file (as a string): that is where readers get it from, and
    a file read on its own is complete. A partitioned table without rows writes one zero-row file in
    ``<key>=empty/`` (value None, never carried over), so the obvious read of the folder still works
    and returns the schema with no rows.
    Returns (path, partition value, rows) per file written.
    """
    if partition is None:
        path = out_dir / PART_FILE
        write_parquet(table, path, sort_keys)
        return [(path, None, table.num_rows)]
    written = []
    col = table.column(partition)
    if col.null_count:
        raise ValueError(f"{out_dir.name}: {col.null_count} rows without {partition}")
    for value in sorted(set(col.to_pylist())):
        try:
            folder = partition_folder(partition, value)
        except ValueError as exc:
            raise ValueError(f"{out_dir.name}: {exc}") from None
        part = table.filter(pc.equal(col, value))
        path = out_dir / folder / PART_FILE
        write_parquet(part, path, sort_keys)
        written.append((path, value, part.num_rows))
    if not written:
        path = out_dir / partition_folder(partition, None) / PART_FILE
        write_parquet(table, path, sort_keys)
        written.append((path, None, 0))
    return written


def read_table(release_dir: Path, table: str) -> pd.DataFrame:
    """A release table as a pandas DataFrame, read the way the release README tells analysts to
    (``pandas.read_parquet(<table folder>)``), without the folder key column (``province``: the data
    is in ``province_code``). Releases of the old layout are read too."""
    import pandas as pd  # only readers of a release need pandas

    path = Path(release_dir) / table
    try:
        df = pd.read_parquet(path)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # A release written before this layout (``province_code=NN/`` folders): the folder clashes
        # with the column; the files alone hold every column.
        df = pd.read_parquet(path, partitioning=None)
    key = FOLDER_KEYS["province_code"][0]
    return df.drop(columns=[key]) if key in df.columns else df
