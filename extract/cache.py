"""Finished per-file work, kept so a rerun (after a crash, or on an unchanged batch) does no work twice.

An entry is keyed on the file's sha256 plus everything that changes the result: pipeline version,
model version and the reading settings. Entries are written to a temporary name and renamed, so a
``kill -9`` at any moment leaves either a whole entry or none.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from schemas.records import FileOutcome, InputFile


def outcome_key(item: InputFile, *versions: str) -> str:
    h = hashlib.sha256(item.sha256.encode())
    ident = item.identity.model_dump_json() if item.identity else "-"
    for part in (ident, *versions):
        h.update(b"\0" + part.encode())
    return h.hexdigest()


class OutcomeCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str, item: InputFile) -> FileOutcome | None:
        path = self._path(key)
        try:
            outcome = FileOutcome.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None  # absent, or unreadable: recompute (never trust a damaged entry)
        # The same bytes may sit under another name in this batch: report the current one.
        outcome.file = item
        for p in outcome.pages:
            p.file = item.rel_path
        for r in outcome.rejected_pages:
            r.file = item.rel_path
        return outcome

    def put(self, key: str, outcome: FileOutcome) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(outcome.model_dump_json().encode())
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written only costs time on the next run
