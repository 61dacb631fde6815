"""Release tables with explicit Arrow schemas. Codes are strings (leading zeros matter)."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from schemas.layout import FormType, load_layout
from schemas.records import BatchResult, FormRecord

C_HASIL_TYPES = (FormType.PPWP, FormType.PPWP_SALINAN, FormType.DPR)
D_HASIL_TYPES = (FormType.DHASIL_PPWP,)


def _field_columns(types: tuple[FormType, ...]) -> list[str]:
    seen: dict[str, None] = {}
    for ft in types:
        for fid in load_layout(ft).field_ids():
            seen.setdefault(fid, None)
    return list(seen)


def region_parts(code: str) -> dict[str, str]:
    out = {"province_code": code[:2], "kabkota_code": code[:4], "kecamatan_code": code[:6]}
    if len(code) == 13:
        out |= {"desa_code": code[:10], "tps_number": code[10:]}
    return out


def _form_rows(forms: list[FormRecord], types: tuple[FormType, ...], key: str) -> tuple[list[dict], list[str]]:
    fields = _field_columns(types)
    rows = []
    for f in sorted((f for f in forms if f.form_type in types), key=lambda f: (f.region_code, f.form_type.value)):
        row = {key: f.region_code, **region_parts(f.region_code), "form_type": f.form_type.value,
               "status": f.status.value, "reasons": [r.value for r in f.reasons],
               "min_confidence": f.min_confidence}
        row |= {fid: f.values.get(fid) for fid in fields}
        rows.append(row)
    return rows, fields


def c_hasil_table(result: BatchResult) -> pa.Table:
    rows, fields = _form_rows(result.forms, C_HASIL_TYPES, "tps_code")
    schema = pa.schema([
        ("tps_code", pa.string()), ("province_code", pa.string()), ("kabkota_code", pa.string()),
        ("kecamatan_code", pa.string()), ("desa_code", pa.string()), ("tps_number", pa.string()),
        ("form_type", pa.string()), ("status", pa.string()), ("reasons", pa.list_(pa.string())),
        ("min_confidence", pa.float64()), *[(fid, pa.int32()) for fid in fields],
    ])
    return pa.Table.from_pylist(rows, schema=schema)


def d_hasil_table(result: BatchResult) -> pa.Table:
    rows, fields = _form_rows(result.forms, D_HASIL_TYPES, "kecamatan_code")
    schema = pa.schema([
        ("kecamatan_code", pa.string()), ("province_code", pa.string()), ("kabkota_code", pa.string()),
        ("form_type", pa.string()), ("status", pa.string()), ("reasons", pa.list_(pa.string())),
        ("min_confidence", pa.float64()), *[(fid, pa.int32()) for fid in fields],
    ])
    for r in rows:
        r.pop("desa_code", None), r.pop("tps_number", None)
    return pa.Table.from_pylist(rows, schema=schema)


ISSUES_SCHEMA = pa.schema([
    ("region_code", pa.string()), ("province_code", pa.string()), ("form_type", pa.string()),
    ("rule_id", pa.string()), ("severity", pa.string()), ("fields", pa.list_(pa.string())),
    ("expected", pa.float64()), ("found", pa.float64()), ("message_id", pa.string()), ("message_en", pa.string()),
])


def issues_table(result: BatchResult) -> pa.Table:
    rows = [
        {"region_code": f.region_code, "province_code": f.region_code[:2], "form_type": f.form_type.value,
         **i.model_dump()}
        for f in sorted(result.forms, key=lambda f: (f.region_code, f.form_type.value)) for i in f.issues
    ]
    return pa.Table.from_pylist(rows, schema=ISSUES_SCHEMA)


PROVENANCE_SCHEMA = pa.schema([
    ("region_code", pa.string()), ("province_code", pa.string()), ("form_type", pa.string()),
    ("page", pa.int16()), ("source_file", pa.string()), ("source_sha256", pa.string()),
    ("page_index", pa.int16()), ("registration_method", pa.string()), ("registration_score", pa.float64()),
    ("reprojection_error", pa.float64()), ("min_digit_confidence", pa.float64()),
    ("model_version", pa.string()), ("pipeline_version", pa.string()),
])


def provenance_table(result: BatchResult) -> pa.Table:
    rows = []
    for f in sorted(result.forms, key=lambda f: (f.region_code, f.form_type.value)):
        for p in sorted(f.pages, key=lambda p: p.registration.page):
            confs = [d.confidence for fr in p.fields for d in fr.digits]
            rows.append({
                "region_code": f.region_code, "province_code": f.region_code[:2], "form_type": f.form_type.value,
                "page": p.registration.page, "source_file": p.file, "source_sha256": p.file_sha256,
                "page_index": p.page_index, "registration_method": p.registration.method,
                "registration_score": p.registration.score,
                "reprojection_error": p.registration.reprojection_error,
                "min_digit_confidence": min(confs) if confs else None,
                "model_version": result.model_version, "pipeline_version": result.pipeline_version,
            })
    return pa.Table.from_pylist(rows, schema=PROVENANCE_SCHEMA)


FILES_SCHEMA = pa.schema([
    ("file", pa.string()), ("sha256", pa.string()), ("bytes", pa.int64()), ("status", pa.string()),
    ("reasons", pa.list_(pa.string())), ("detail", pa.string()), ("region_code", pa.string()),
    ("form_type", pa.string()), ("pages", pa.int32()),
])


def files_table(result: BatchResult) -> pa.Table:
    rows = [{"file": f.file, "sha256": f.sha256, "bytes": f.size, "status": f.status.value,
             "reasons": [r.value for r in f.reasons], "detail": f.detail, "region_code": f.region_code,
             "form_type": f.form_type.value if f.form_type else None, "pages": f.pages}
            for f in sorted(result.files, key=lambda f: f.file)]
    return pa.Table.from_pylist(rows, schema=FILES_SCHEMA)


# table name -> (builder, hive partition column or None)
TABLE_BUILDERS: dict[str, tuple[Callable[[BatchResult], pa.Table], str | None]] = {
    "c_hasil": (c_hasil_table, "province_code"),
    "d_hasil": (d_hasil_table, "province_code"),
    "issues": (issues_table, "province_code"),
    "provenance": (provenance_table, "province_code"),
    "files": (files_table, None),
}
