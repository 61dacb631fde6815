"""Write a batch result as a release: hive-partitioned Parquet per province, published atomically.

``RELEASES_DIR/<release_id>/<table>/province=pNN/part-0.parquet`` (``load.parquet_io.partition_folder``
says why that folder name) plus ``manifest.json`` (every file with rows, bytes and sha256; versions;
inputs), ``datapackage.json`` (Frictionless),
``README.md`` (data dictionary), ``run.json`` (what the run did, for ``pindai status``),
``records.jsonl`` (full form records, for the review loop), ``corrections.jsonl`` (the stewards'
decisions in force: the ledger every later release re-applies) and ``register.json`` (a copy of
the TPS register in force, when there is one; a hard link to the parent's when unchanged).
``manifest.json`` names the parent release (``base_release``) and the release's ``lineage``.

The release is written into a staging folder beside the releases and renamed into place in one
step; ``latest`` (a symlink) moves only after that, so readers never see a half-written release
and a failed write leaves the previous release, ``latest`` and no staging debris behind.
Publishing some provinces carries every other province of the previous ``latest`` over unchanged
(hard links, or byte copies across file systems), checked against the previous manifest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from load.catalogue import LATEST, LEDGER, MANIFEST, RECORDS, RUN, latest, read_manifest
from load.docs import datapackage, readme
from load.parquet_io import partition_path, sha256_file, write_partitioned
from load.tables import Context, TableSpec, make_context, pseudonym, table_specs
from schemas.records import BatchResult, FormRecord
from schemas.register import Register, RegisterSource, load_register
from schemas.release import LedgerEntry, Lineage, Manifest, ManifestFile, ManifestInput, RegisterRef, TableInfo

SCHEMA_VERSION = "3"  # 3: reconciliation.tps_verified; coverage counts registered units
_RELEASE_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$")
_PROVINCE = re.compile(r"^\d{2}$")


class CarryOverError(RuntimeError):
    """The previous release cannot be carried over (other schema, or its files fail their checksums)."""


def summarize(result: BatchResult) -> dict:
    statuses = Counter(f.status.value for f in result.files)
    forms = Counter(f.status.value for f in result.forms)
    return {
        "files": len(result.files),
        "files_by_status": dict(sorted(statuses.items())),
        "forms": len(result.forms),
        "forms_by_status": dict(sorted(forms.items())),
        "ignored_files": result.ignored_files,
        "skipped_links": result.skipped_links,
    }


def new_release_id(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def publish(result: BatchResult, releases_dir: Path, input_dir: Path | None = None,
            release_id: str | None = None, *, register: RegisterSource = None,
            provinces: Iterable[str] | None = None,
            tables: Mapping[str, TableSpec] | None = None,
            ledger: list[LedgerEntry] | None = None, lineage: Lineage | None = None,
            parent_id: str | None | bool = False) -> Path:
    """Write ``result`` as a new release under ``releases_dir`` and move ``latest`` to it.

    ``register``: the TPS register (path or loaded; optional) for region names and the D.Hasil
    desa rows, recorded in the manifest; the reconciliation and coverage rows come with ``result``
    (``transform.reconcile``, with the register given there: give both the same one).
    ``provinces``: publish only these provinces of ``result`` and carry every other province over
    from the current ``latest`` unchanged; None publishes everything in ``result`` and carries
    nothing. ``tables``: the table specs (default: every release table).
    ``ledger``: the corrections in force (written as ``corrections.jsonl``; the caller has applied
    them to ``result``, ``load.lineage`` does). ``lineage``: the command and corrections summary;
    the parent, register, versions and ledger size are filled in here. ``parent_id``: the release
    ``ledger`` was taken from (None: none); if ``latest`` moved meanwhile, ``CarryOverError`` and
    nothing is published (False: not checked).
    Returns the release folder. Raises on any failure, leaving the previous state untouched.
    """
    now = datetime.now(UTC)
    release_id = release_id or new_release_id(now)
    if not _RELEASE_ID.match(release_id) or release_id == LATEST:
        raise ValueError(f"bad release id {release_id!r}: letters, digits, '.', '_', '-' only")
    selected = _check_provinces(provinces)
    reg = load_register(register)
    specs = dict(tables) if tables is not None else table_specs()
    releases_dir.mkdir(parents=True, exist_ok=True)
    final = releases_dir / release_id
    if final.exists() or final.is_symlink():
        raise FileExistsError(f"release {release_id} exists already; releases are immutable")
    parent = latest(releases_dir)
    if parent_id is not False and (parent.name if parent is not None else None) != parent_id:
        raise CarryOverError(f"'latest' moved to {parent.name if parent else 'nothing'} while this release was made "
                             f"from {parent_id or 'nothing'}: run the command again")
    base = parent if selected is not None else None
    base_manifest = None
    if base is not None:
        try:
            base_manifest = read_manifest(base)
        except (OSError, ValueError) as exc:
            raise CarryOverError(f"latest release {base.name} has no readable manifest ({exc.__class__.__name__}): "
                                 "publish every province instead") from exc
    if base_manifest is not None and base_manifest.schema_version != SCHEMA_VERSION:
        raise CarryOverError(f"latest release {base.name} has schema version {base_manifest.schema_version}, "
                             f"this pindai writes {SCHEMA_VERSION}: publish every province instead")

    staging = releases_dir / f".staging-{release_id}"
    shutil.rmtree(staging, ignore_errors=True)  # debris of a killed run with the same id
    staging.mkdir()
    try:
        ctx = make_context(result, reg, selected)
        files: list[ManifestFile] = []
        infos: dict[str, TableInfo] = {}
        for name, spec in specs.items():
            table = spec.build(ctx)
            if selected is not None and spec.partition:
                table = table.filter(pc.is_in(table.column(spec.partition), pa.array(sorted(selected))))
            if spec.partition is None and base is not None:
                table = _merge_unpartitioned(table, spec, base, selected)
            entries = [_entry(staging, p, "table", name, value, rows)
                       for p, value, rows in write_partitioned(table, staging / name, spec.partition,
                                                               spec.sort_keys)]
            if spec.partition and base_manifest is not None:
                entries += _carry_partitions(spec, base, base_manifest, staging, selected)
            entries.sort(key=lambda e: e.path)
            files += entries
            infos[name] = TableInfo(rows=sum(e.rows or 0 for e in entries), files=[e.path for e in entries],
                                    partition=spec.partition)

        run = {
            "release_id": release_id,
            "created_at": now.isoformat(),
            "input_dir": str(input_dir) if input_dir else None,
            "provinces": sorted(selected) if selected is not None else None,
            "base_release": parent.name if parent is not None else None,
            "command": lineage.command if lineage is not None else None,
            "summary": summarize(result),
            "warnings": result.warnings,
            "files": [f.model_dump(mode="json") for f in result.files],
        }
        _write_text(staging / RUN, json.dumps(run, indent=1, ensure_ascii=False))
        n_records = _write_records(staging / RECORDS, ctx.forms, base, selected)
        files.append(_entry(staging, staging / RUN, "internal"))
        files.append(_entry(staging, staging / RECORDS, "internal", rows=n_records))
        ledger = list(ledger or [])
        _write_text(staging / LEDGER, "".join(e.model_dump_json() + "\n" for e in ledger))
        files.append(_entry(staging, staging / LEDGER, "internal", rows=len(ledger)))
        reg_ref = _copy_register(reg, staging, parent)
        if reg_ref is not None:
            files.append(_entry(staging, staging / reg_ref.file, "internal"))
        lineage = (lineage or Lineage(command="publish")).model_copy(deep=True)
        lineage.base_release = parent.name if parent is not None else None
        lineage.input_dir = str(input_dir) if input_dir else None
        lineage.tps_register = reg_ref
        lineage.model_version = result.model_version
        lineage.pipeline_version = result.pipeline_version
        lineage.corrections.entries = len(ledger)

        manifest = Manifest(
            release_id=release_id, schema_version=SCHEMA_VERSION,
            pipeline_version=result.pipeline_version, model_version=result.model_version,
            provinces=sorted(selected) if selected is not None else None,
            base_release=parent.name if parent is not None else None,
            tps_register=({"source": reg_ref.source, "sha256": reg_ref.sha256, "tps": reg_ref.tps}
                          if reg_ref is not None else None),
            tables=infos, files=list(files), inputs=_inputs(ctx, release_id, base_manifest, selected),
            lineage=lineage,
        )
        _write_text(staging / "datapackage.json", json.dumps(datapackage(manifest, specs), indent=1,
                                                             ensure_ascii=False))
        _write_text(staging / "README.md", readme(manifest, specs))
        files.append(_entry(staging, staging / "datapackage.json", "metadata"))
        files.append(_entry(staging, staging / "README.md", "metadata"))
        manifest.files = sorted(files, key=lambda e: e.path)
        _write_text(staging / MANIFEST, manifest.model_dump_json(indent=1))
        _fsync_tree(staging)
        os.rename(staging, final)  # atomic on one file system: the release appears whole
        _fsync_dir(releases_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    point_latest(releases_dir, release_id)
    return final


def _copy_register(reg: Register | None, staging: Path, parent: Path | None) -> RegisterRef | None:
    """Keep the register in force inside the release (``register.json``), so a later release made
    without ``--register`` re-uses exactly it: a hard link to the file it was read from (the
    parent's copy when carried), bytes otherwise."""
    if reg is None:
        return None
    dst = staging / "register.json"
    src = Path(reg.path) if reg.path else None
    if src is not None and src.is_file():
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    else:  # given as parsed data: its content, as a file the catalogue reads back
        _write_text(dst, json.dumps({"id2name": reg.id2name, "tps": reg.tps}, ensure_ascii=False))
    # given as parsed data, it has no file: its copy is what a later release reads, so its hash names it
    ref = RegisterRef(source=reg.source, sha256=reg.sha256 or sha256_file(dst), tps=reg.expected_tps(""),
                      path=reg.path)
    if parent is not None and src is not None and src.parent == parent.resolve():
        # carried from the parent: name where it came from first, not the parent's copy
        try:
            prev = read_manifest(parent).lineage
        except (OSError, ValueError):
            prev = None
        if prev is not None and prev.tps_register is not None:
            ref.source, ref.path = prev.tps_register.source, prev.tps_register.path
            ref.carried_from = prev.tps_register.carried_from or parent.name
        else:
            ref.carried_from = parent.name
    return ref


def _check_provinces(provinces: Iterable[str] | None) -> set[str] | None:
    if provinces is None:
        return None
    selected = {str(p) for p in provinces}
    bad = sorted(p for p in selected if not _PROVINCE.match(p))
    if bad or not selected:
        raise ValueError(f"provinces must be 2-digit codes, got {bad or 'none'}")
    return selected


def _entry(root: Path, path: Path, kind: str, table: str | None = None, province: str | None = None,
           rows: int | None = None) -> ManifestFile:
    return ManifestFile(path=path.relative_to(root).as_posix(), kind=kind, table=table,
                        province_code=province, rows=rows, bytes=path.stat().st_size,
                        sha256=sha256_file(path))


def _carry_partitions(spec: TableSpec, base: Path, base_manifest: Manifest, staging: Path,
                      selected: set[str]) -> list[ManifestFile]:
    """Link the previous release's partitions of every province not republished into staging."""
    out = []
    for e in base_manifest.files:
        if e.table != spec.name or e.kind != "table" or e.province_code in (None, *selected):
            continue
        # Re-placed in this pindai's partition folder: a parent written with the old layout
        # (province_code=NN/) is carried into province=pNN/, same bytes, so layouts never mix.
        path = partition_path(spec.name, spec.partition, e.province_code, Path(e.path).name)
        src, dst = base / e.path, staging / path
        if not src.is_file() or src.stat().st_size != e.bytes or sha256_file(src) != e.sha256:
            raise CarryOverError(f"{e.path} of release {base.name} is missing or fails its manifest checksum; "
                                 "refusing to carry it over (run `pindai release verify`)")
        if not pq.read_schema(src).equals(spec.schema, check_metadata=False):
            raise CarryOverError(f"{e.path} of release {base.name} has another schema than this pindai "
                                 "writes: publish every province instead")
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)  # same bytes, no copy
        except OSError:
            shutil.copyfile(src, dst)
        out.append(e.model_copy(update={"path": path,
                                        "carried_from": e.carried_from or base_manifest.release_id}))
    return out


def _carried(province: str | None, file: str, selected: set[str], new_files: set[str]) -> bool:
    # A previous row stays unless its province is republished or this run read the same file again.
    return (province is None or province not in selected) and file not in new_files


def _merge_unpartitioned(table: pa.Table, spec: TableSpec, base: Path, selected: set[str]) -> pa.Table:
    """The ``files`` table of a partial publication: this run's files plus the previous ones kept."""
    old_path = base / spec.name / "part-0.parquet"
    if spec.name != "files" or not old_path.exists():
        return table
    old = pq.read_table(old_path)
    if not old.schema.equals(spec.schema, check_metadata=False):
        raise CarryOverError(f"{old_path} has another schema than this pindai writes")
    new_files = set(table.column("file").to_pylist())
    pairs = zip(old.column("province_code").to_pylist(), old.column("file").to_pylist(), strict=True)
    keep = [_carried(p, f, selected, new_files) for p, f in pairs]
    merged = pa.concat_tables([table, old.filter(pa.array(keep, pa.bool_())).cast(spec.schema)])
    return merged.sort_by([(k, "ascending") for k in spec.sort_keys])


def _inputs(ctx: Context, release_id: str, base_manifest: Manifest | None,
            selected: set[str] | None) -> list[ManifestInput]:
    new = [ManifestInput(file=f.file, sha256=f.sha256, bytes=f.size, status=f.status.value,
                         region_code=f.region_code, form_type=f.form_type.value if f.form_type else None,
                         release_id=release_id) for f in ctx.files]
    if base_manifest is None or selected is None:
        return new
    names = {i.file for i in new}
    kept = [i for i in base_manifest.inputs
            if _carried(i.region_code[:2] if i.region_code else None, i.file, selected, names)]
    return sorted(new + kept, key=lambda i: i.file)


def _write_records(path: Path, forms: list[FormRecord], base: Path | None, selected: set[str] | None) -> int:
    """Full form records, one JSON per line, sorted by (region code, form type), steward names
    pseudonymised; other provinces' lines of a partial publication come over verbatim."""
    lines = [(f.region_code, f.form_type.value, _without_names(f).model_dump_json()) for f in forms]
    old = base / RECORDS if base is not None else None
    if selected is not None and old is not None and old.exists():
        for line in old.read_text("utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec["region_code"][:2] not in selected:
                lines.append((rec["region_code"], rec["form_type"], line))
    lines.sort(key=lambda t: (t[0], t[1]))
    _write_text(path, "".join(t[2] + "\n" for t in lines))
    return len(lines)


def _without_names(f: FormRecord) -> FormRecord:
    """The record as released: a steward's name in a correction becomes their pseudonym."""
    if not f.corrections:
        return f
    return f.model_copy(update={"corrections": [c.model_copy(update={"by": pseudonym(c.by)})
                                                for c in f.corrections]})


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def point_latest(releases_dir: Path, release_id: str) -> None:
    """Move the ``latest`` symlink to ``release_id`` in one step (rename over the old link)."""
    tmp = releases_dir / f".{LATEST}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(release_id, target_is_directory=True)
    os.replace(tmp, releases_dir / LATEST)
    _fsync_dir(releases_dir)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory
    finally:
        os.close(fd)
