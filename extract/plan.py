"""Plan a batch: find the files, checksum them, settle identities and byte-identical duplicates.

Files that cannot be processed at all (unreadable, duplicates) get their outcome here, so the
totals always equal the number of input files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from extract.ingest import (
    ManifestError,
    describe,
    discover,
    display_name,
    file_size,
    identity_from_name,
    read_manifest,
)
from schemas.errors import InputFolderMissing
from schemas.reasons import Reason
from schemas.records import FileOutcome, InputFile
from schemas.settings import Limits, Settings


@dataclass
class BatchPlan:
    root: Path
    items: list[InputFile] = field(default_factory=list)  # to be processed
    settled: list[FileOutcome] = field(default_factory=list)  # already accounted for
    ignored: list[str] = field(default_factory=list)
    skipped_links: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_files(self) -> int:
        return len(self.items) + len(self.settled)


def plan_batch(root: Path, limits: Limits | None = None) -> BatchPlan:
    """``limits``: default ``Settings.from_env().limits`` (files above ``max_file_bytes`` are not read)."""
    # Absolute once, here: every item's path is then the same in any worker, whatever its working
    # folder (a Dask worker's is not the CLI's).
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise InputFolderMissing(str(root))
    found = discover(root)
    plan = BatchPlan(root=root, ignored=[p.as_posix() for p in found.ignored],
                     skipped_links=[p.as_posix() for p in found.skipped_links])
    try:
        manifest = read_manifest(root)
    except ManifestError as exc:
        # The batch goes on with identities from file names; the operator is told why.
        plan.warnings.append(f"{exc}; using file names instead")
        manifest = {}
    limits = limits or Settings.from_env().limits
    described: list[InputFile] = []
    for rel in found.files:
        name = display_name(rel)
        if name is None:
            shown = os.fsencode(rel.as_posix()).decode("utf-8", "backslashreplace")
            stub = InputFile(path=str(root / shown), rel_path=shown, size=0, sha256="")
            plan.settled.append(FileOutcome(file=stub, failure=Reason.BAD_NAME,
                                            detail="the file name is not valid UTF-8: rename it"))
            continue
        # Files refused here keep the identity their name claims: counted under their TPS.
        ident = manifest.get(name) or identity_from_name(rel)
        try:
            size = file_size(root / rel)
            if size > limits.max_file_bytes:  # refused without reading (and checksumming) gigabytes
                stub = InputFile(path=str(root / rel), rel_path=name, size=size, sha256="", identity=ident)
                plan.settled.append(FileOutcome(file=stub, failure=Reason.FILE_TOO_LARGE,
                                                detail=f"{size:,} bytes > {limits.max_file_bytes:,}"))
                continue
            item = describe(root, rel, manifest)
        except OSError as exc:
            stub = InputFile(path=str(root / rel), rel_path=name, size=0, sha256="", identity=ident)
            plan.settled.append(FileOutcome(file=stub, failure=Reason.UNREADABLE_FILE,
                                            detail=exc.strerror or str(exc)))
            continue
        described.append(item)
    plan.items = _keep_one_of_each(described, plan.settled)
    return plan


def _keep_one_of_each(items: list[InputFile], settled: list[FileOutcome]) -> list[InputFile]:
    """Of byte-identical files, read one: the first whose identity is known (manifest or a good
    name), else the first. The others are settled as ``duplicate_file`` naming the one read, so a
    badly named copy that sorts first cannot cost the form its well-named page."""
    keeper: dict[str, InputFile] = {}
    for item in items:
        if item.size == 0:  # empty files are all "identical"; each is rejected on its own
            continue
        kept = keeper.get(item.sha256)
        if kept is None or (kept.identity is None and item.identity is not None):
            keeper[item.sha256] = item
    out: list[InputFile] = []
    for item in items:
        kept = keeper.get(item.sha256)
        if kept is None or kept is item or item.size == 0:
            out.append(item)
        else:
            settled.append(FileOutcome(file=item, failure=Reason.DUPLICATE_FILE,
                                       detail=f"same bytes as {kept.rel_path}"))
    return out


def chunks(items: list[InputFile], size: int) -> list[list[InputFile]]:
    size = max(1, size)
    return [items[i: i + size] for i in range(0, len(items), size)]
