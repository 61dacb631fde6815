"""What a release says about itself for people and tools: ``datapackage.json`` (Frictionless Data
Package) and ``README.md`` (the data dictionary), both generated from the table specs."""

from __future__ import annotations

import pyarrow as pa

from load.tables import TableSpec
from schemas.release import Manifest

# The release README opens with these: each line works as is from inside the release folder (a test
# runs them), on every table, and returns every code as a string.
FOUR_READS = """\
```python
import duckdb, pandas as pd, polars as pl, pyarrow.dataset as ds

df = pd.read_parquet("c_hasil")
t = ds.dataset("c_hasil", partitioning="hive").to_table()
rel = duckdb.sql("SELECT * FROM read_parquet('c_hasil/**/*.parquet', hive_partitioning=true)")
df = pl.read_parquet("c_hasil")
```
"""

LAYOUT = """\
## Layout, and why

Every table is a folder of Parquet files, partitioned by province: `<table>/province=p32/part-0.parquet`
(`files` is one unpartitioned file). **Region codes are strings with leading zeros** (`"01"`,
`"0101010001001"`) and stay strings in every reader above, with no extra argument:

- `province_code` (and every other code) is a string column *inside* every file, so a file read on its
  own is complete.
- The folder key is `province` and its value starts with a letter (`p32`) on purpose. A folder named
  `province_code=32` would make readers guess an integer from the folder name: pandas and pyarrow
  then refuse the table (the file says string, the folder says integer) and DuckDB returns BIGINT.
  `province` ("p32") is an extra string column, handy to prune folders
  (`WHERE province = 'p32'`); use `province_code` for the data.
- A partitioned table without rows in this release keeps one zero-row file in `province=empty/`, so
  the same reads return its columns and no rows.
- Releases written before this layout used `province_code=NN/`; a new release that carries
  provinces over from such a release moves their files (same bytes) into `province=pNN/`.
"""

GUARANTEES = """\
## Guarantees

- `manifest.json` lists every file of the release with its rows, bytes and sha256, the schema,
  pipeline and model versions, the register used and every input file with its sha256.
  `pindai release verify <release>` checks all of it. `datapackage.json` (Frictionless) has one
  resource per Parquet file, with its rows and sha256 (`sha256sum` a file to compare);
  `frictionless validate datapackage.json` checks every file against its schema and row count.
- Releases are immutable and published whole (written elsewhere, then renamed into place);
  `latest` moves only after a complete publication.
- The same inputs, versions and corrections give byte-identical Parquet files (no timestamps,
  stable row order, stable schema).
- A release that republishes some provinces carries every other province's files over from the
  previous release unchanged (`carried_from` in the manifest).
- Nothing personal: no names of people, no signatures, no images. Who corrected a number is
  `auto` or a steward pseudonym.
- `run.json` (what the run did), `records.jsonl` (full form records for the review loop),
  `corrections.jsonl` (the stewards' decisions in force, re-applied by every later release) and
  `register.json` (the TPS register in force) are internal files, not analyst tables.
- Every release names the release it was made from (`base_release`) and its `lineage` in the
  manifest: the command, the register (file name, sha256), the corrections in force and added (from
  which CSV or review session, by which steward pseudonyms), the model and policy versions.
"""


# Null cells of nullable integer columns reach frictionless (5.x reads Parquet through pandas) as the
# float NaN, which it compares as the text "nan": declared missing, they are nulls, not type errors.
MISSING_VALUES = ["", "nan"]


def frictionless_type(t: pa.DataType) -> str:
    """Table Schema type of an Arrow type. Lists and structs are "any": Table Schema's "array" and
    "object" mean JSON text or Python lists/dicts, and Parquet lists reach a reader as numpy arrays;
    the exact Arrow type is in each field's ``arrowType``."""
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "number"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_list(t) or pa.types.is_struct(t):
        return "any"
    return "string"


def _field_entry(c) -> dict:
    entry = {"name": c.name, "type": frictionless_type(c.type), "description": c.description,
             "arrowType": str(c.type)}
    if c.label_id is not None:
        entry |= {"title": c.label_en, "label_id": c.label_id, "label_en": c.label_en, "section": c.section}
    return entry


def resource_name(table: str, province: str | None, partitioned: bool) -> str:
    """One resource per Parquet file (frictionless reads one file per resource): ``c_hasil-p32``;
    ``d_hasil-empty`` for the zero-row file of a table without rows; ``files`` unpartitioned."""
    if not partitioned:
        return table
    return f"{table}-p{province}" if province else f"{table}-empty"


def datapackage(manifest: Manifest, specs: dict[str, TableSpec]) -> dict:
    """The Frictionless descriptor: one tabular resource per Parquet file (its path, row count, and
    its sha256 and size for readers who check by hand), grouped into tables by ``table``; every
    table's schema is the spec's. ``frictionless validate datapackage.json`` passes on every release."""
    by_path = {f.path: f for f in manifest.files}
    resources = []
    for name, spec in specs.items():
        info = manifest.tables.get(name)
        if info is None:
            continue
        schema: dict = {"fields": [_field_entry(c) for c in spec.columns], "missingValues": MISSING_VALUES}
        if spec.primary_key:
            schema["primaryKey"] = list(spec.primary_key)
        for path in info.files:
            f = by_path.get(path)
            province = f.province_code if f is not None else None
            res = {"name": resource_name(name, province, bool(spec.partition)), "type": "table",
                   "table": name, "profile": "tabular-data-resource", "description": spec.description,
                   "path": path, "format": "parquet", "mediatype": "application/vnd.apache.parquet",
                   "schema": schema}
            if f is not None:
                # Not the standard "bytes"/"hash": frictionless 5 reads Parquet through pyarrow, not
                # its byte stream, so it would report those as mismatches on every file.
                res |= {"rows": f.rows or 0, "sha256": f.sha256, "fileBytes": f.bytes}
            if spec.partition:
                res["partition"] = {spec.partition: province}
            resources.append(res)
    return {
        "profile": "data-package",
        "name": f"pindai-release-{manifest.release_id}".lower(),
        "title": "pindai: Indonesian election results digitized from C.Hasil / D.Hasil forms",
        "version": manifest.release_id,
        "pindai": {"schema_version": manifest.schema_version, "pipeline_version": manifest.pipeline_version,
                   "model_version": manifest.model_version, "provinces": manifest.provinces,
                   "base_release": manifest.base_release},
        "resources": resources,
    }


def _md(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _keys(cols: tuple[str, ...]) -> str:
    return ", ".join(f"`{k}`" for k in cols) or "-"


def readme(manifest: Manifest, specs: dict[str, TableSpec]) -> str:
    lines = [
        f"# pindai release {manifest.release_id}",
        "",
        "Validated open data from scanned Indonesian election results forms (C.Hasil per TPS, "
        "D.Hasil per kecamatan). Read any table, from inside this folder, with one line (no other argument):",
        "",
        FOUR_READS,
        "Replace `c_hasil` by any table below. Codes come back as strings (`\"01\"`, never `1`).",
        "",
        "| table | one row is | key | rows | files |",
        "|---|---|---|---:|---:|",
    ]
    for name, spec in specs.items():
        info = manifest.tables.get(name)
        key = _keys(spec.primary_key or spec.key)
        lines.append(f"| `{name}` | {_md(spec.grain)} | {key} | {info.rows if info else 0} | "
                     f"{len(info.files) if info else 0} |")
    lines += [
        "",
        "Generated with the release; do not edit.",
        "",
        f"- schema version: {manifest.schema_version}",
        f"- pipeline version: {manifest.pipeline_version or 'unknown'}",
        f"- model version: {manifest.model_version or 'unknown'}",
        f"- provinces published by this run: {', '.join(manifest.provinces or []) or 'all'}",
        f"- made from release: {manifest.base_release or '- (the first release)'}"
        + (f" by `pindai {manifest.lineage.command}`" if manifest.lineage else ""),
        f"- register: {(manifest.tps_register or {}).get('source') or 'none (names are null)'}",
        *([f"- stewards' corrections in force: {manifest.lineage.corrections.entries} "
           f"({manifest.lineage.corrections.added} added by this release)"] if manifest.lineage else []),
        f"- input files: {len(manifest.inputs)}",
        "",
        LAYOUT, GUARANTEES, "## Data dictionary", "",
    ]
    for name, spec in specs.items():
        lines += [f"### `{name}`", "", spec.description, ""]
        part = "partitioned by province (`province=pNN/`)" if spec.partition else "not partitioned"
        lines.append(f"- one row is: {spec.grain or '-'}")
        lines.append(f"- layout: {part}; sorted by {_keys(spec.sort_keys)}")
        if spec.primary_key:
            lines.append(f"- primary key: {_keys(spec.primary_key)}")
        elif spec.key:
            lines.append(f"- key: {_keys(spec.key)} (not a declared primary key: it may hold nulls or repeat)")
        lines += [f"- note: {n}" for n in spec.notes]
        lines += ["", "| column | type | description | label (id) |", "|---|---|---|---|"]
        for c in spec.columns:
            lines.append(f"| `{c.name}` | {c.type} | {_md(c.description)} | {_md(c.label_id)} |")
        lines.append("")
    tables = [f for f in manifest.files if f.kind == "table"]
    if tables:  # a cheap check for readers who skip `pindai release verify`
        lines += ["## Checksums", "",
                  "sha256 of every table file, in `sha256sum` format. From inside this folder:", "",
                  "```sh", "awk '/^```sha256sum/{f=1;next} /^```/{f=0} f' README.md | sha256sum -c", "```", "",
                  "```sha256sum", *(f"{f.sha256}  {f.path}" for f in tables), "```", ""]
    return "\n".join(lines) + "\n"
