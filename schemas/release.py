"""What a published release declares about itself (``manifest.json``) and what verifying it finds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

FileKind = Literal["table", "metadata", "internal"]


class ManifestFile(BaseModel):
    """One file of a release, relative to the release folder (POSIX separators)."""

    path: str
    kind: FileKind  # table: Parquet data; metadata: README/datapackage; internal: run.json, records.jsonl
    table: str | None = None
    province_code: str | None = None  # the hive partition, for partitioned tables
    rows: int | None = None  # Parquet rows (tables) or lines (records.jsonl)
    bytes: int
    sha256: str
    carried_from: str | None = None  # release id the file was carried over from, unchanged


class ManifestInput(BaseModel):
    """One input file (scan, photo, PDF) that contributed to the release."""

    file: str
    sha256: str
    bytes: int
    status: str
    region_code: str | None = None
    form_type: str | None = None
    release_id: str  # the release whose run read it (carried-over provinces keep their own)


class TableInfo(BaseModel):
    rows: int
    files: list[str]
    partition: str | None = None


class Manifest(BaseModel):
    release_id: str
    schema_version: str
    pipeline_version: str
    model_version: str
    provinces: list[str] | None = None  # provinces (re)published by this run; None: all, no carry-over
    base_release: str | None = None  # the release other provinces were carried over from
    tps_register: dict[str, str | int | None] | None = None  # source name, sha256, TPS count
    tables: dict[str, TableInfo]
    files: list[ManifestFile]
    inputs: list[ManifestInput]


class VerifyProblem(BaseModel):
    kind: Literal["manifest", "missing", "unexpected", "size", "checksum", "rows", "unreadable"]
    path: str
    detail: str = ""


class VerifyReport(BaseModel):
    release_dir: str
    release_id: str | None = None
    files_checked: int = 0
    problems: list[VerifyProblem] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems
