"""The one reader of published releases: find one ("latest", an id, a path) and open it, typed.

Every command that looks at a release (status, rerun-failed, review export/apply/serve, eval,
report, model update, publish) goes through ``resolve`` and ``open_release``; nothing else parses
``run.json``, ``records.jsonl`` or ``corrections.jsonl`` or follows the ``latest`` link. Problems are
``ReleaseNotFound`` / ``ReleaseUnreadable`` with a stable ``CatalogueProblem`` code; only the CLI
turns them into exit codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError

from schemas.records import BatchResult, FormRecord
from schemas.register import Register, load_register
from schemas.release import LedgerEntry, Manifest, RunInfo

LATEST = "latest"
MANIFEST = "manifest.json"
RUN = "run.json"
RECORDS = "records.jsonl"
LEDGER = "corrections.jsonl"


class CatalogueProblem(StrEnum):
    NO_RELEASES = "no_releases"  # a releases folder with no 'latest' (nothing published yet)
    NOT_FOUND = "release_not_found"  # no such folder, id or release
    MANIFEST = "manifest_unreadable"
    RUN = "run_unreadable"
    RECORDS = "records_unreadable"
    LEDGER = "ledger_unreadable"
    REGISTER = "register_unreadable"
    REGISTER_NOT_KEPT = "register_not_kept"  # made with a register before releases kept a copy

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    CatalogueProblem.NO_RELEASES: "nothing published yet: the folder has no 'latest' release",
    CatalogueProblem.NOT_FOUND: "no release there: neither a release folder, nor a releases folder, nor a known id",
    CatalogueProblem.MANIFEST: "the release's manifest.json is missing or damaged",
    CatalogueProblem.RUN: "the release's run.json is missing or damaged",
    CatalogueProblem.RECORDS: "the release's records.jsonl is missing or damaged",
    CatalogueProblem.LEDGER: "the release's corrections.jsonl is damaged",
    CatalogueProblem.REGISTER: "the register copy of the release is missing or damaged",
    CatalogueProblem.REGISTER_NOT_KEPT: "the release was made with a register but keeps no copy of it "
    "(written before releases did): give the register again with --register",
}


class CatalogueError(Exception):
    def __init__(self, problem: CatalogueProblem, where: Path | str, detail: str = "") -> None:
        self.problem, self.where, self.detail = problem, str(where), detail
        super().__init__(f"{where}: {problem.message}" + (f" ({detail})" if detail else ""))


class ReleaseNotFound(CatalogueError, FileNotFoundError):
    """No release where one was asked for (a FileNotFoundError, so callers that catch that keep working)."""


class ReleaseUnreadable(CatalogueError, ValueError):
    """A release whose own files cannot be read: damaged, or written by an incompatible pindai."""


def latest(releases_dir: Path) -> Path | None:
    """The release ``latest`` points to (resolved), or None."""
    link = Path(releases_dir) / LATEST
    if link.is_symlink() or link.is_dir():
        target = link.resolve()
        return target if target.is_dir() else None
    return None


def is_release(path: Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def resolve(where: Path | str, ref: str | Path = LATEST) -> Path:
    """The release folder (absolute) meant by ``where`` and ``ref``.

    ``where``: a release folder (``ref`` is then ignored) or a releases folder. ``ref``: "latest"
    (default), a release id in that folder, or a path to a release folder."""
    where = Path(where)
    if is_release(where):
        return where.resolve()
    ref_s = str(ref)
    if ref_s != LATEST:
        cands = [where / ref_s, Path(ref_s)]
        for c in cands:
            if is_release(c):
                return c.resolve()
        raise ReleaseNotFound(CatalogueProblem.NOT_FOUND, where / ref_s)
    if not where.is_dir():
        raise ReleaseNotFound(CatalogueProblem.NOT_FOUND, where, "no such folder")
    found = latest(where)
    if found is None:
        raise ReleaseNotFound(CatalogueProblem.NO_RELEASES, where)
    if not is_release(found):
        raise ReleaseUnreadable(CatalogueProblem.MANIFEST, found)
    return found


def read_manifest(release_dir: Path) -> Manifest:
    """The manifest (raises OSError / ValueError: ``publish`` reports those as a carry-over problem)."""
    return Manifest.model_validate_json((Path(release_dir) / MANIFEST).read_text("utf-8"))


@dataclass
class Release:
    """A published release, opened: manifest and run info read, records and ledger on demand."""

    path: Path
    manifest: Manifest
    run: RunInfo
    _records: list[FormRecord] | None = field(default=None, repr=False)
    _ledger: list[LedgerEntry] | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.manifest.release_id

    @property
    def releases_dir(self) -> Path:
        return self.path.parent

    @property
    def input_dir(self) -> Path | None:
        return Path(self.run.input_dir) if self.run.input_dir else None

    def iter_records(self) -> Iterator[FormRecord]:
        path = self.path / RECORDS
        try:
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, start=1):
                    if line.strip():
                        try:
                            yield FormRecord.model_validate_json(line)
                        except ValidationError as exc:
                            raise ReleaseUnreadable(CatalogueProblem.RECORDS, path, f"line {n}") from exc
        except OSError as exc:
            raise ReleaseUnreadable(CatalogueProblem.RECORDS, path, exc.strerror or str(exc)) from exc

    @property
    def records(self) -> list[FormRecord]:
        if self._records is None:
            self._records = list(self.iter_records())
        return self._records

    @property
    def ledger(self) -> list[LedgerEntry]:
        """The corrections in force (empty for a release without a ledger)."""
        if self._ledger is None:
            path = self.path / LEDGER
            if not path.is_file():
                self._ledger = []
            else:
                try:
                    self._ledger = [LedgerEntry.model_validate_json(line)
                                    for line in path.read_text("utf-8").splitlines() if line.strip()]
                except (OSError, ValidationError) as exc:
                    raise ReleaseUnreadable(CatalogueProblem.LEDGER, path) from exc
        return self._ledger

    @property
    def register_path(self) -> Path | None:
        """The copy of the register this release was made with, if it holds one."""
        if self.manifest.lineage is None:
            if self.manifest.tps_register:  # never lose a register silently: ask for it
                raise ReleaseUnreadable(CatalogueProblem.REGISTER_NOT_KEPT, self.path,
                                        f"it was {self.manifest.tps_register.get('source')}")
            return None
        ref = self.manifest.lineage.tps_register
        if ref is None:
            return None
        path = self.path / ref.file
        if not path.is_file():
            raise ReleaseUnreadable(CatalogueProblem.REGISTER, path)
        return path

    def register(self) -> Register | None:
        path = self.register_path
        if path is None:
            return None
        try:
            return load_register(path)
        except (OSError, ValueError) as exc:
            raise ReleaseUnreadable(CatalogueProblem.REGISTER, path, str(exc).splitlines()[0]) from exc

    def result(self) -> BatchResult:
        """The release as a ``BatchResult`` (forms, file statuses, versions): what republishing starts from."""
        s = self.run.summary
        return BatchResult(forms=list(self.records), files=list(self.run.files), ignored_files=list(s.ignored_files),
                           skipped_links=list(s.skipped_links), warnings=list(self.run.warnings),
                           model_version=self.manifest.model_version or "",
                           pipeline_version=self.manifest.pipeline_version or "")


def open_release(where: Path | str, ref: str | Path = LATEST) -> Release:
    """Open the release meant by ``where``/``ref`` (see ``resolve``)."""
    path = resolve(where, ref)
    try:
        manifest = read_manifest(path)
    except (OSError, ValueError) as exc:
        raise ReleaseUnreadable(CatalogueProblem.MANIFEST, path / MANIFEST, type(exc).__name__) from exc
    try:
        run = RunInfo.model_validate_json((path / RUN).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ReleaseUnreadable(CatalogueProblem.RUN, path / RUN, type(exc).__name__) from exc
    return Release(path=path, manifest=manifest, run=run)


def open_latest(releases_dir: Path | str) -> Release | None:
    """The latest release of a releases folder, or None when nothing was published there yet."""
    if latest(Path(releases_dir)) is None:
        return None
    return open_release(releases_dir)

