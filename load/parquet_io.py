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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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


def write_partitioned(table: pa.Table, out_dir: Path, partition: str | None,
                      sort_keys: tuple[str, ...] = ()) -> list[tuple[Path, str | None, int]]:
    """Write ``table`` under ``out_dir``: one ``part-0.parquet`` per value of ``partition`` in
    ``<partition>=<value>/`` (hive style), or one ``part-0.parquet`` when unpartitioned.

    The partition column stays inside each file too (as a string), so a reader that infers hive
    partition types (and would turn "01" into 1) still gets the string from the file, and a file
    read on its own is complete. A partitioned table without rows writes no file.
    Returns (path, partition value, rows) per file written.
    """
    if partition is None:
        path = out_dir / "part-0.parquet"
        write_parquet(table, path, sort_keys)
        return [(path, None, table.num_rows)]
    written = []
    col = table.column(partition)
    if col.null_count:
        raise ValueError(f"{out_dir.name}: {col.null_count} rows without {partition}")
    for value in sorted(set(col.to_pylist())):
        if not _SAFE.match(str(value)):  # a partition value becomes a folder name
            raise ValueError(f"{out_dir.name}: unsafe {partition} value {value!r}")
        part = table.filter(pc.equal(col, value))
        path = out_dir / f"{partition}={value}" / "part-0.parquet"
        write_parquet(part, path, sort_keys)
        written.append((path, value, part.num_rows))
    return written
