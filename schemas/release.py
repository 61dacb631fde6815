"""What a published release declares about itself (``manifest.json``), what its run did
(``run.json``), where it came from (``Lineage``, with the corrections ledger ``corrections.jsonl``)
and what verifying it finds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from schemas.records import FileStatus

FileKind = Literal["table", "metadata", "internal"]


class ManifestFile(BaseModel):
    """One file of a release, relative to the release folder (POSIX separators)."""

    path: str
    kind: FileKind  # table: Parquet; metadata: README/datapackage; internal: run.json, records.jsonl, ledger, register
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
    # The parent: the release ``latest`` pointed to when this one was made (None only for the first
    # release of a releases folder). Provinces not republished are carried over from it.
    base_release: str | None = None
    tps_register: dict[str, str | int | None] | None = None  # source name, sha256, TPS count
    tables: dict[str, TableInfo]
    files: list[ManifestFile]
    inputs: list[ManifestInput]
    lineage: Lineage | None = None  # None: a release written before lineage was recorded


# --------------------------------------------------------------------------- lineage

Command = Literal["run", "rerun-failed", "review-apply", "publish"]


class RegisterRef(BaseModel):
    """The TPS register in force: the file it was read from and its copy inside the release."""

    source: str | None = None  # the file's name
    sha256: str | None = None
    tps: int | None = None
    path: str | None = None  # where it was read from (absolute), when given on the command line
    file: str = "register.json"  # the copy inside the release, what a later release re-uses
    carried_from: str | None = None  # release id it was carried over from (no --register given)


class FieldDecision(BaseModel):
    """A steward's decision on one field: ``old`` is the value the steward saw, ``new`` the decided
    value (None: the field is empty on paper). Shared by a CSV's accepted row
    (``transform.corrections.AppliedCorrection``) and the ledger entry it becomes."""

    region_code: str
    form_type: str
    field_id: str
    old: int | None
    new: int | None
    reviewer: str
    reason: str = ""
    confirmation: bool = False  # new == old: the steward confirmed the reading


class LedgerEntry(FieldDecision):
    """One steward decision, as state: re-applied to every later release of the folder. The
    reviewer is a pseudonym (``load.tables.pseudonym``), never a name."""

    at: str
    kind: str = ""  # what the paper shows (confirm | misread | officer_slip), when the CSV said it
    source: str = ""  # the corrections CSV's file name, or the review session that published it
    release_id: str  # the release that first applied it


class LedgerSummary(BaseModel):
    entries: int = 0  # in this release's corrections.jsonl
    added: int = 0  # decided for this release
    added_from: str | None = None  # the CSV / review session they came from
    reviewers: list[str] = Field(default_factory=list)  # pseudonyms of the added entries
    applied: int = 0  # entries whose form is in this release
    not_applied: int = 0  # entries whose form is not in this release (kept for when it comes back)


class Lineage(BaseModel):
    """Every input of every decision that shaped a release."""

    command: Command
    base_release: str | None = None
    input_dir: str | None = None
    tps_register: RegisterRef | None = None
    corrections: LedgerSummary = Field(default_factory=LedgerSummary)
    model_version: str = ""
    pipeline_version: str = ""
    policy_version: str = ""  # hash of the verification policy (transform.validate.ValidationSettings)


# --------------------------------------------------------------------------- run.json

class RunSummary(BaseModel):
    files: int = 0
    files_by_status: dict[str, int] = Field(default_factory=dict)
    forms: int = 0
    forms_by_status: dict[str, int] = Field(default_factory=dict)
    ignored_files: list[str] = Field(default_factory=list)
    skipped_links: list[str] = Field(default_factory=list)


class RunInfo(BaseModel):
    """``run.json``: what the run that made a release did, file by file (``pindai status``)."""

    release_id: str
    created_at: str = ""
    input_dir: str | None = None
    provinces: list[str] | None = None
    base_release: str | None = None
    command: str | None = None
    summary: RunSummary = Field(default_factory=RunSummary)
    warnings: list[str] = Field(default_factory=list)
    files: list[FileStatus] = Field(default_factory=list)


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


Manifest.model_rebuild()  # Lineage is defined below Manifest
