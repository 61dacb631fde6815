"""The reviewed-crop store: labelled digit-box crops from the stewards' decisions.

A folder (``LearnSettings.reviewed_dir``) of append-only npz shards (``x``: N x 32 x 32 uint8
crops as the reader cuts them, ``y``: class indices) and ``index.jsonl``, one ``ReviewedBox`` per
crop. A shard is written under a temporary name and renamed before its index lines are appended,
so a crash leaves at worst an unreferenced shard, never an index line without its crop. Nothing
is rewritten: a later decision on the same box is appended and wins when the store is read.
Steward names never enter the store, only their pseudonyms.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from load.tables import pseudonym
from schemas.learning import ReviewedBox, SkippedField, StoreReport, StoreSkip, is_held_out
from schemas.records import DIGIT_CLASSES
from transform.reviewed import LabelledField

INDEX = "index.jsonl"


def append(store: Path | str, fields: list[LabelledField], *, at: str, model_version: str, release_id: str,
           held_out_every: int = 5, skipped: list[SkippedField] | None = None) -> StoreReport:
    """Append the crops of ``fields`` as one shard. An unwritable store is reported, not raised."""
    store = Path(store)
    report = StoreReport(store=str(store), skipped=list(skipped or []))
    # The store's own guard (whoever cut the crops): a label is what is written on the paper, so a
    # decision that corrects the officer, not the reader, never enters it.
    report.skipped += [SkippedField(region_code=f.decision.region_code, form_type=f.decision.form_type,
                                    field_id=f.decision.field_id, reason=StoreSkip.NOT_INK,
                                    detail=f"an officer's slip: the paper says {f.decision.old}")
                       for f in fields if not f.decision.kind.is_ink]
    fields = [f for f in fields if f.decision.kind.is_ink]
    if not fields:
        return report
    x = np.concatenate([f.crops for f in fields])
    y = np.array([DIGIT_CLASSES.index(c) for f in fields for c in f.labels], np.int64)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    shard = f"shard-{stamp}-{os.getpid()}.npz"
    rows: list[ReviewedBox] = []
    for f in fields:
        d, p = f.decision, f.page
        held = is_held_out(d.region_code, d.form_type, held_out_every)
        for i, (label, allowed) in enumerate(zip(f.labels, f.allowed, strict=True)):
            rows.append(ReviewedBox(
                shard=shard, row=len(rows), file_sha256=p.file_sha256, file=p.file, page=p.registration.page,
                page_index=p.page_index, region_code=d.region_code, form_type=d.form_type, field_id=d.field_id,
                box=i, label=label, allowed=allowed, value=d.new,
                decision="confirmed" if d.confirmation else "corrected", steward=pseudonym(d.reviewer), at=at,
                model_version=model_version, release_id=release_id, held_out=held))
    try:
        store.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=store, prefix=".tmp-", suffix=".npz")
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, x=x, y=y)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, store / shard)
        with open(store / INDEX, "a", encoding="utf-8") as fh:
            fh.write("".join(r.model_dump_json() + "\n" for r in rows))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        report.skipped += [SkippedField(region_code=f.decision.region_code, form_type=f.decision.form_type,
                                        field_id=f.decision.field_id, reason=StoreSkip.STORE_UNWRITABLE,
                                        detail=str(exc)) for f in fields]
        return report
    report.boxes, report.fields, report.shard = len(rows), len(fields), shard
    report.held_out_boxes = sum(r.held_out for r in rows)
    return report


@dataclass
class ReviewedData:
    """The store as arrays, one entry per box (the latest decision per box)."""

    x: np.ndarray  # (N, 32, 32) uint8
    y: np.ndarray  # (N,) int64 training labels
    allowed: np.ndarray  # (N, 12) bool: classes the decided value allows
    held_out: np.ndarray  # (N,) bool
    rows: list[ReviewedBox]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> ReviewedData:
        idx = np.flatnonzero(mask)
        return ReviewedData(self.x[idx], self.y[idx], self.allowed[idx], self.held_out[idx],
                            [self.rows[i] for i in idx])


def read_index(store: Path | str) -> list[ReviewedBox]:
    """Index lines, the latest per box (file, page, field, box); damaged lines are skipped."""
    path = Path(store) / INDEX
    if not path.is_file():
        return []
    latest: dict[tuple[str, int, str, int], ReviewedBox] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                r = ReviewedBox.model_validate(json.loads(line))
            except ValueError:
                continue  # a torn last line after a crash
            latest[(r.file_sha256, r.page_index, r.field_id, r.box)] = r
    return list(latest.values())


def read_store(store: Path | str) -> ReviewedData:
    store = Path(store)
    rows = [r for r in read_index(store) if (store / r.shard).is_file()]
    xs: list[np.ndarray] = []
    shards: dict[str, np.ndarray] = {}
    for r in rows:
        if r.shard not in shards:
            with np.load(store / r.shard) as z:
                shards[r.shard] = z["x"]
        xs.append(shards[r.shard][r.row])
    allowed = np.zeros((len(rows), len(DIGIT_CLASSES)), bool)
    for i, r in enumerate(rows):
        allowed[i, [DIGIT_CLASSES.index(c) for c in r.allowed]] = True
    return ReviewedData(
        x=np.stack(xs) if xs else np.zeros((0, 32, 32), np.uint8),
        y=np.array([DIGIT_CLASSES.index(r.label) for r in rows], np.int64),
        allowed=allowed, held_out=np.array([r.held_out for r in rows], bool), rows=rows)


def summary(store: Path | str) -> dict:
    """Counts for ``pindai model status``."""
    rows = read_index(store)
    forms = {(r.region_code, r.form_type) for r in rows}
    held = {(r.region_code, r.form_type) for r in rows if r.held_out}
    return {"store": str(store), "boxes": len(rows), "held_out_boxes": sum(r.held_out for r in rows),
            "forms": len(forms), "held_out_forms": len(held),
            "corrected_boxes": sum(r.decision == "corrected" for r in rows),
            "last_decision": max((r.at for r in rows), default=None)}
