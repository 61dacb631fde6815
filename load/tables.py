"""Release tables: explicit Arrow schemas, documented column by column, built from a batch result.

Every table is a ``TableSpec``: name, description, columns (type + description; form fields also
carry their Indonesian and English labels from the layout), the hive partition column, sort keys
and primary key. Region codes are strings (leading zeros matter: "01" is not 1). Form fields are
nullable int32 columns named by their layout field id. Nothing personal is ever a column: no names
of people (steward names in corrections are replaced by a pseudonym), no signatures, no images.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import typing
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import cache

import pyarrow as pa
from pydantic import BaseModel

from schemas.layout import FormLayout, FormType, load_layout
from schemas.reconcile import CoverageRow, ReconciliationRow
from schemas.records import BatchResult, Correction, FileStatus, FormRecord
from schemas.register import Register

C_HASIL_TYPES = (FormType.PPWP, FormType.PPWP_SALINAN, FormType.DPR)
D_HASIL_TYPES = (FormType.DHASIL_PPWP,)
PARTITION = "province_code"

_PASLON = re.compile(r"^votes_(\d+)$")
_PARTY = re.compile(r"^party_(\d+)_votes$")
_CAND = re.compile(r"^party_(\d+)_cand_(\d+)$")
_DESA_ROW = re.compile(r"^desa_(\d+)_(.+)$")
_PSEUDONYM = re.compile(r"^steward-[0-9a-f]{12}$")
_ROW_PREFIX = re.compile(r"^Desa (baris|row) \d+:\s*")


# --------------------------------------------------------------------------- columns and specs

@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    label_id: str | None = None  # form fields: the Indonesian label printed on the form
    label_en: str | None = None
    section: str | None = None

    def arrow_field(self) -> pa.Field:
        meta = {"description": self.description}
        if self.label_id is not None:
            meta |= {"label_id": self.label_id, "label_en": self.label_en or "",
                     "section": self.section or ""}
        return pa.field(self.name, self.type, nullable=True, metadata=meta)


@dataclass
class Context:
    """What table builders read: the forms and files being published, and the optional register."""

    result: BatchResult
    forms: list[FormRecord]  # sorted by (region_code, form_type)
    files: list[FileStatus]  # sorted by file
    register: Register | None = None

    def name(self, code: str | None) -> str | None:
        return self.register.name(code) if self.register is not None and code else None


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    rows: Callable[[Context], list[dict]]
    partition: str | None = PARTITION
    sort_keys: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    grain: str = ""  # what one row is, for the release README
    key: tuple[str, ...] = ()  # the columns naming a row where there is no enforceable primary key (nulls)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([c.arrow_field() for c in self.columns],
                         metadata={"table": self.name, "description": self.description})

    def build(self, ctx: Context) -> pa.Table:
        """Rows in a stable order (builders emit them sorted; a stable sort settles the rest)."""
        table = pa.Table.from_pylist(self.rows(ctx), schema=self.schema)
        if self.sort_keys and table.num_rows:
            idx = pa.array(range(table.num_rows), pa.int64())
            table = table.append_column("__i", idx).sort_by(
                [(k, "ascending") for k in self.sort_keys] + [("__i", "ascending")]).drop_columns(["__i"])
        return table


def _layout(ft: FormType) -> FormLayout | None:
    # A layout not (yet) packaged contributes no columns; every packaged form type does.
    try:
        return load_layout(ft)
    except FileNotFoundError:
        return None


@cache
def field_columns(types: tuple[FormType, ...]) -> tuple[Column, ...]:
    """Every field id of these form types, in layout order, as nullable int32 columns."""
    seen: dict[str, Column] = {}
    used_by: dict[str, list[str]] = defaultdict(list)
    for ft in types:
        layout = _layout(ft)
        if layout is None:
            continue
        for page in layout.pages:
            for f in page.fields:
                used_by[f.id].append(ft.value)
                if f.id not in seen:
                    seen[f.id] = Column(f.id, pa.int32(), "", label_id=f.label_id, label_en=f.label_en,
                                        section=f.section)
    out = []
    for fid, c in seen.items():
        desc = f"{c.label_en} (section {c.section}; form types: {', '.join(used_by[fid])})"
        out.append(Column(c.name, c.type, desc, c.label_id, c.label_en, c.section))
    return tuple(out)


def region_parts(code: str) -> dict[str, str | None]:
    """Split a 13-digit TPS / 10 desa / 6 kecamatan / 4 kab-kota / 2 province code into its levels."""
    n = len(code)
    return {
        "province_code": code[:2],
        "kabkota_code": code[:4] if n >= 4 else None,
        "kecamatan_code": code[:6] if n >= 6 else None,
        "desa_code": code[:10] if n >= 10 else None,
        "tps_number": code[10:] if n == 13 else None,
    }


def _names(ctx: Context, parts: dict[str, str | None], levels: tuple[str, ...]) -> dict[str, str | None]:
    return {f"{lvl}_name": ctx.name(parts.get(f"{lvl}_code")) for lvl in levels}


def _form_sort_key(f: FormRecord) -> tuple[str, str]:
    return (f.region_code, f.form_type.value)


S, I16, I32, I64, F64, B = pa.string(), pa.int16(), pa.int32(), pa.int64(), pa.float64(), pa.bool_()
LIST_S = pa.list_(pa.string())

_C = {  # shared column descriptions
    "province_code": Column("province_code", S, "Province code, 2 digits (string; also the hive partition)"),
    "kabkota_code": Column("kabkota_code", S, "Kabupaten/kota code, 4 digits (string)"),
    "kecamatan_code": Column("kecamatan_code", S, "Kecamatan code, 6 digits (string)"),
    "desa_code": Column("desa_code", S, "Desa/kelurahan code, 10 digits (string)"),
    "tps_number": Column("tps_number", S, "TPS number inside the desa, 3 digits (9xx: special-location TPS)"),
    "tps_code": Column("tps_code", S, "TPS code, 13 digits: desa code + TPS number (string)"),
    "region_code": Column("region_code", S, "Region code of the form: 13-digit TPS (C.Hasil) or 6-digit "
                          "kecamatan (D.Hasil)"),
    "province_name": Column("province_name", S, "Province name from the register (null when unknown)"),
    "kabkota_name": Column("kabkota_name", S, "Kabupaten/kota name from the register (null when unknown)"),
    "kecamatan_name": Column("kecamatan_name", S, "Kecamatan name from the register (null when unknown)"),
    "desa_name": Column("desa_name", S, "Desa/kelurahan name from the register (null when unknown)"),
    "form_type": Column("form_type", S, "Form type: ppwp (C.Hasil plano), ppwp-salinan (A4 copy), dpr, "
                        "dhasil-ppwp (D.Hasil kecamatan recap)"),
    "status": Column("status", S, "Form status: verified (every digit confidently read, every hard rule "
                     "holds) or needs_review (see reasons and the issues table)"),
    "reasons": Column("reasons", LIST_S, "Why the form is not verified (stable reason codes)"),
    "min_confidence": Column("min_confidence", F64, "Lowest field reading confidence on the form (0-1)"),
}


def _cols(*names: str) -> tuple[Column, ...]:
    return tuple(_C[n] for n in names)


# --------------------------------------------------------------------------- c_hasil, votes

def _c_forms(ctx: Context) -> list[FormRecord]:
    return [f for f in ctx.forms if f.form_type in C_HASIL_TYPES]


def _form_head(ctx: Context, f: FormRecord, levels: tuple[str, ...]) -> dict:
    parts = region_parts(f.region_code)
    return {**parts, **_names(ctx, parts, levels), "form_type": f.form_type.value, "status": f.status.value,
            "reasons": [r.value for r in f.reasons], "min_confidence": f.min_confidence}


def _c_hasil_rows(ctx: Context) -> list[dict]:
    fields = field_columns(C_HASIL_TYPES)
    rows = []
    for f in _c_forms(ctx):
        row = {"tps_code": f.region_code, **_form_head(ctx, f, ("province", "kabkota", "kecamatan", "desa"))}
        row |= {c.name: f.values.get(c.name) for c in fields}
        rows.append(row)
    return rows


def contestant_of(field_id: str) -> tuple[str, str] | None:
    """(contestant, kind) of a vote field: votes_1 -> paslon_1, party_01_votes -> party_01 (party-only
    votes), party_01_cand_3 -> party_01_cand_3; None for fields that are not votes for someone."""
    if m := _PASLON.match(field_id):
        return f"paslon_{int(m[1])}", "candidate_pair"
    if m := _PARTY.match(field_id):
        return f"party_{m[1]}", "party"
    if m := _CAND.match(field_id):
        return f"party_{m[1]}_cand_{int(m[2])}", "candidate"
    return None


def _votes_rows(ctx: Context) -> list[dict]:
    rows = []
    for f in _c_forms(ctx):
        layout = _layout(f.form_type)
        if layout is None:
            continue
        parts = region_parts(f.region_code)
        for fid in layout.field_ids():
            c = contestant_of(fid)
            if c is None:
                continue
            value = f.values.get(fid)
            if value is None and c[1] == "candidate":
                continue  # an empty candidate slot: the party lists fewer candidates than the form has rows
            rows.append({"tps_code": f.region_code, "province_code": parts["province_code"],
                         "kabkota_code": parts["kabkota_code"], "kecamatan_code": parts["kecamatan_code"],
                         "desa_code": parts["desa_code"], "form_type": f.form_type.value,
                         "contestant": c[0], "contestant_kind": c[1], "field_id": fid, "votes": value,
                         "status": f.status.value})
    return rows


# --------------------------------------------------------------------------- d_hasil, d_hasil_desa

def _d_forms(ctx: Context) -> list[FormRecord]:
    return [f for f in ctx.forms if f.form_type in D_HASIL_TYPES]


def _d_hasil_rows(ctx: Context) -> list[dict]:
    fields = field_columns(D_HASIL_TYPES)
    rows = []
    for f in _d_forms(ctx):
        head = _form_head(ctx, f, ("province", "kabkota", "kecamatan"))
        row = {"kecamatan_code": f.region_code, **{k: v for k, v in head.items()
                                                    if k not in ("desa_code", "tps_number")}}
        row |= {c.name: f.values.get(c.name) for c in fields}
        rows.append(row)
    return rows


@cache
def desa_row_columns() -> tuple[Column, ...]:
    """The per-desa columns of the D.Hasil attachment (desa_NN_<column> fields, NN = row)."""
    out: dict[str, Column] = {}
    for c in field_columns(D_HASIL_TYPES):
        if (m := _DESA_ROW.match(c.name)) and m[2] not in out:
            label_id, label_en = _ROW_PREFIX.sub("", c.label_id or ""), _ROW_PREFIX.sub("", c.label_en or "")
            out[m[2]] = Column(m[2], pa.int32(), f"{label_en} (one desa row of the D.Hasil attachment)",
                               label_id, label_en, c.section)
    return tuple(out.values())


def _desa_rows_of(f: FormRecord) -> dict[int, dict[str, int | None]]:
    rows: dict[int, dict[str, int | None]] = defaultdict(dict)
    for fid, v in f.values.items():
        if m := _DESA_ROW.match(fid):
            rows[int(m[1])][m[2]] = v
    return rows


def _d_hasil_desa_rows(ctx: Context) -> list[dict]:
    cols = [c.name for c in desa_row_columns()]
    out = []
    for f in _d_forms(ctx):
        desa = ctx.register.desa_of_kecamatan(f.region_code) if ctx.register else []
        parts = region_parts(f.region_code)
        for n, vals in sorted(_desa_rows_of(f).items()):
            if all(v is None for v in vals.values()):
                continue  # an unused row: the kecamatan has fewer desa than the form has rows
            code = desa[n - 1] if n <= len(desa) else None
            out.append({"kecamatan_code": f.region_code, "province_code": parts["province_code"],
                        "kabkota_code": parts["kabkota_code"], "row": n, "desa_code": code,
                        "desa_name": ctx.name(code), "form_type": f.form_type.value, "status": f.status.value,
                        **{c: vals.get(c) for c in cols}})
    return out


# --------------------------------------------------------------------------- issues, provenance

def _issues_rows(ctx: Context) -> list[dict]:
    rows = []
    for f in ctx.forms:
        parts = region_parts(f.region_code)
        for i in f.issues:
            rows.append({"region_code": f.region_code, "province_code": parts["province_code"],
                         "kabkota_code": parts["kabkota_code"], "kecamatan_code": parts["kecamatan_code"],
                         "form_type": f.form_type.value, "status": f.status.value, **i.model_dump()})
    return rows


def pseudonym(by: str) -> str:
    """Who made a correction, without a person's name: "auto", or a stable steward pseudonym."""
    if by in ("", "auto"):
        return by or "auto"
    if _PSEUDONYM.match(by):
        return by  # already one (records carried from an earlier release)
    return "steward-" + hashlib.sha256(by.encode("utf-8")).hexdigest()[:12]


_CORRECTION = pa.struct([
    ("field_id", S), ("old", I64), ("new", I64), ("by", S), ("at", S), ("reason", S),
    ("boxes_changed", pa.list_(I16)), ("probability", F64),
])


def _correction(c: Correction) -> dict:
    return {"field_id": c.field_id, "old": c.old, "new": c.new, "by": pseudonym(c.by), "at": c.at,
            "reason": c.reason, "boxes_changed": list(c.boxes_changed), "probability": c.probability}


def _provenance_rows(ctx: Context) -> list[dict]:
    rows = []
    for f in ctx.forms:
        layout = _layout(f.form_type)
        by_page: dict[int | None, list[dict]] = defaultdict(list)
        for c in f.corrections:
            try:
                page = layout.page_of(c.field_id) if layout else None
            except KeyError:
                page = None
            by_page[page].append(_correction(c))
        pages = sorted(f.pages, key=lambda p: (p.registration.page, p.file, p.page_index))
        first = pages[0].registration.page if pages else None
        for p in pages:
            n = p.registration.page
            confs = [d.confidence for fr in p.fields for d in fr.digits]
            corr = by_page.get(n, []) + (by_page.get(None, []) if n == first else [])
            rows.append({
                "region_code": f.region_code, "province_code": f.region_code[:2],
                "form_type": f.form_type.value,
                "status": f.status.value, "page": n, "source_file": p.file, "source_sha256": p.file_sha256,
                "page_index": p.page_index, "registration_method": p.registration.method,
                "registration_score": p.registration.score,
                "reprojection_error": p.registration.reprojection_error,
                "marks_found": p.registration.marks_found, "rotation": p.registration.rotation,
                "min_digit_confidence": min(confs) if confs else None,
                "model_version": ctx.result.model_version, "pipeline_version": ctx.result.pipeline_version,
                "corrections": corr,
            })
    return rows


# --------------------------------------------------------------------------- rows made by transform

_ARROW = {str: S, int: I64, float: F64, bool: B}


def model_columns(model: type[BaseModel], types: dict[str, pa.DataType] | None = None) -> tuple[Column, ...]:
    """Columns of a row model (``schemas.reconcile``), in field order. Description: the field's, else
    the shared column's (codes, names, form type); Arrow type: ``types``, else the shared column's,
    else from the annotation (enums are strings)."""
    out = []
    for name, f in model.model_fields.items():
        shared = _C.get(name)
        if not f.description and shared is None:
            raise ValueError(f"{model.__name__}.{name} has no description")
        arrow = (types or {}).get(name) or (shared.type if shared is not None else None)
        if arrow is None:
            base = next(a for a in (*typing.get_args(f.annotation), f.annotation) if a is not type(None))
            arrow = S if isinstance(base, type) and issubclass(base, Enum) else _ARROW[base]
        out.append(Column(name, arrow, f.description or shared.description))
    return tuple(out)


def _model_rows(rows: list[BaseModel]) -> list[dict]:
    return [r.model_dump(mode="json") for r in rows]


def _doc(model: type[BaseModel]) -> str:
    return " ".join(inspect.cleandoc(model.__doc__ or "").split())


# --------------------------------------------------------------------------- files

def _files_rows(ctx: Context) -> list[dict]:
    return [{"file": f.file, "sha256": f.sha256, "bytes": f.size, "status": f.status.value,
             "reasons": [r.value for r in f.reasons], "detail": f.detail, "region_code": f.region_code,
             "province_code": f.region_code[:2] if f.region_code else None,
             "form_type": f.form_type.value if f.form_type else None, "pages": f.pages}
            for f in ctx.files]


# --------------------------------------------------------------------------- the specs

@cache
def table_specs() -> dict[str, TableSpec]:
    """Every release table, in publication order."""
    regions4 = _cols("province_code", "kabkota_code", "kecamatan_code", "desa_code")
    names4 = _cols("province_name", "kabkota_name", "kecamatan_name", "desa_name")
    form_cols = _cols("form_type", "status", "reasons", "min_confidence")
    specs = [
        TableSpec(
            "c_hasil", "C.Hasil results: one row per TPS and form type, every form field as written "
            "(after recorded corrections), with the form's status.",
            (_C["tps_code"], *regions4, _C["tps_number"], *names4, *form_cols, *field_columns(C_HASIL_TYPES)),
            _c_hasil_rows, sort_keys=("tps_code", "form_type"), primary_key=("tps_code", "form_type"),
            grain="one TPS and C.Hasil form type"),
        TableSpec(
            "votes", "Votes in long form: one row per C.Hasil form and contestant (candidate pair, "
            "party-only votes, party candidate). Party totals are not rows (they would double count): "
            "see c_hasil.",
            (_C["tps_code"],
             *_cols("province_code", "kabkota_code", "kecamatan_code", "desa_code", "form_type"),
             Column("contestant", S, "paslon_N (candidate pair N), party_NN (votes for party NN only), "
                    "party_NN_cand_C (candidate C of party NN)"),
             Column("contestant_kind", S, "candidate_pair | party | candidate"),
             Column("field_id", S, "The form field the number comes from (column of c_hasil)"),
             Column("votes", I32, "Votes as written (null: unreadable or missing; see status)"),
             _C["status"]),
            _votes_rows, sort_keys=("tps_code", "form_type"),
            primary_key=("tps_code", "form_type", "contestant"), grain="one C.Hasil form and contestant",
            notes=("Empty candidate slots (a party lists fewer candidates than the form has rows) "
                   "have no row.",)),
        TableSpec(
            "d_hasil", "D.Hasil kecamatan recaps: one row per kecamatan and form type; kecamatan totals and "
            "the desa rows of the attachment (desa_NN_*) as columns.",
            (_C["kecamatan_code"], *_cols("province_code", "kabkota_code", "province_name", "kabkota_name",
                                          "kecamatan_name"), *form_cols, *field_columns(D_HASIL_TYPES)),
            _d_hasil_rows, sort_keys=("kecamatan_code", "form_type"),
            primary_key=("kecamatan_code", "form_type"), grain="one kecamatan and D.Hasil form type"),
        TableSpec(
            "d_hasil_desa", "The desa rows of the D.Hasil attachment in long form: one row per kecamatan and "
            "filled-in row; desa_code from the register's desa order (null without a register).",
            (_C["kecamatan_code"], *_cols("province_code", "kabkota_code"),
             Column("row", I16, "Row number on the attachment (1-based)"), _C["desa_code"], _C["desa_name"],
             *_cols("form_type", "status"), *desa_row_columns()),
            _d_hasil_desa_rows, sort_keys=("kecamatan_code", "form_type", "row"),
            primary_key=("kecamatan_code", "form_type", "row"),
            grain="one filled-in desa row of a D.Hasil attachment"),
        TableSpec(
            "issues", "Every rule result that is not clean: one row per form and broken rule (FORMS.md "
            "rules; hard = the form is wrong or misread, soft = suspicious).",
            (_C["region_code"],
             *_cols("province_code", "kabkota_code", "kecamatan_code", "form_type", "status"),
             Column("rule_id", S, "Stable rule id (R<n> from the rule list, with a suffix per check)"),
             Column("severity", S, "hard | soft"),
             Column("fields", LIST_S, "Field ids the rule involves"),
             Column("expected", F64, "What the rule expected (e.g. the sum of the parts)"),
             Column("found", F64, "What the form says"),
             Column("message_id", S, "Explanation in Indonesian"),
             Column("message_en", S, "Explanation in English")),
            _issues_rows, sort_keys=("region_code", "form_type"), grain="one form and rule result that is not clean",
            key=("region_code", "form_type", "rule_id")),
        TableSpec(
            "provenance", "Where every number comes from: one row per form and page scan used, with the "
            "source file and its sha256, registration quality, lowest digit confidence, versions and the "
            "corrections applied to fields of that page (audit trail).",
            (_C["region_code"], *_cols("province_code", "form_type", "status"),
             Column("page", I16, "Page of the form (1-based)"),
             Column("source_file", S, "Input file the page was read from (relative to the input folder)"),
             Column("source_sha256", S, "sha256 of the input file"),
             Column("page_index", I16, "0-based page index inside the input file"),
             Column("registration_method", S, "How the page was aligned: tag+marks | tag | frame"),
             Column("registration_score", F64, "Registration quality, 0-1 (1 = perfect)"),
             Column("reprojection_error", F64, "Mean alignment error, in layout units (PDF points)"),
             Column("marks_found", I16, "Registration marks found"),
             Column("rotation", I16, "How the page was turned in the image (degrees clockwise)"),
             Column("min_digit_confidence", F64, "Lowest digit classifier confidence on the page"),
             Column("model_version", S, "Digit reader model version"),
             Column("pipeline_version", S, "pindai version"),
             Column("corrections", pa.list_(_CORRECTION), "Corrections to fields of this page: field_id, "
                    "old, new, by ('auto' or a steward pseudonym, never a name), at (ISO time, '' when "
                    "automatic), reason, boxes_changed, probability")),
            _provenance_rows, sort_keys=("region_code", "form_type", "page"),
            grain="one form and page scan used (a page scanned twice: two rows)",
            key=("region_code", "form_type", "page", "source_file", "page_index")),
        TableSpec(
            "reconciliation", _doc(ReconciliationRow),
            model_columns(ReconciliationRow, {"desa_row": I16, "tps_forms": I32, "tps_verified": I32,
                                              "tps_values_missing": I32, "tps_expected": I32}),
            lambda ctx: _model_rows(ctx.result.reconciliation), sort_keys=("kecamatan_code",),
            grain="one kecamatan and field (desa_row null), and one desa row and field",
            key=("kecamatan_code", "desa_row", "field_id")),
        TableSpec(
            "coverage", _doc(CoverageRow), model_columns(CoverageRow),
            lambda ctx: _model_rows(ctx.result.coverage), sort_keys=("region_code", "form_type"),
            primary_key=("region_code", "form_type"), grain="one province or kab/kota and form type"),
        TableSpec(
            "files", "Every input file of the release with its one status and the reasons (one file, "
            "not partitioned).",
            (Column("file", S, "Path of the input file, relative to the input folder"),
             Column("sha256", S, "sha256 of the file"), Column("bytes", I64, "File size"),
             Column("status", S, "verified | needs_review | rejected | failed"),
             Column("reasons", LIST_S, "Stable reason codes"), Column("detail", S, "Detail for operators"),
             Column("region_code", S, "Region code the file claims (null: unknown)"),
             Column("province_code", S, "Province of the region code (null: unknown)"),
             _C["form_type"], Column("pages", I32, "Pages in the file")),
            _files_rows, partition=None, sort_keys=("file",), primary_key=("file",), grain="one input file"),
    ]
    return {s.name: s for s in specs}


def make_context(result: BatchResult, register: Register | None = None,
                 provinces: set[str] | None = None) -> Context:
    forms = sorted((f for f in result.forms if provinces is None or f.region_code[:2] in provinces),
                   key=_form_sort_key)
    files = sorted((f for f in result.files
                    if provinces is None or not f.region_code or f.region_code[:2] in provinces),
                   key=lambda f: f.file)
    return Context(result=result, forms=forms, files=files, register=register)
