"""The stewards' decisions as labelled digit-box crops (what ``pindai model update`` learns from).

For every field a steward corrected or confirmed, the source page is decoded and registered again
(sources are never modified; a file whose bytes changed is refused) and the field's boxes are cut
with ``extract.read_page.page_crops``, exactly as the reader cut them. Each box gets its label from
the decided value the way numbers are written into boxes (``synth.fill.box_contents``: right
aligned, one digit per box). Leading boxes hold a "no digit" mark, a blank, or a 0, which the value
cannot tell apart: their ``allowed`` set says so and their training label is the reader's most
probable class among those. A field that cannot be cut is skipped with a ``StoreSkip`` reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from extract.crops import decoded_page
from extract.decode import DecodeError
from extract.geometry import page_map
from extract.ingest import sha256_file
from extract.read_page import page_crops
from extract.register import RegisterFailure, register_page
from schemas.layout import FormType, load_layout
from schemas.learning import SkippedField, StoreSkip
from schemas.records import DIGIT_CLASSES, FieldReading, FormRecord, PageReading
from schemas.settings import Settings
from transform.corrections import AppliedCorrection

LEAD_ALLOWED = "0X_"  # a leading box of a number: a 0, a no-digit mark, or blank
EMPTY_ALLOWED = "X_"  # every box of an empty field


@dataclass
class LabelledField:
    """One decided field's boxes, cut and labelled."""

    decision: AppliedCorrection
    page: PageReading
    crops: np.ndarray  # (k, 32, 32) uint8
    labels: list[str]  # training label per box (DIGIT_CLASSES)
    allowed: list[str]  # classes the decided value allows per box


def box_labels(value: int | None, probs: list[list[float]]) -> tuple[list[str], list[str]] | None:
    """(labels, allowed) per box for ``value`` written into ``len(probs)`` boxes, or None when the
    value has more digits than there are boxes. ``probs``: the reader's per-box class probabilities,
    to choose among the classes a leading box allows."""
    n = len(probs)
    digits = "" if value is None else str(value)
    if len(digits) > n:
        return None
    lead = EMPTY_ALLOWED if value is None else LEAD_ALLOWED
    allowed = [lead] * (n - len(digits)) + list(digits)
    labels = []
    for a, p in zip(allowed, probs, strict=True):
        if len(a) == 1:
            labels.append(a)
        else:
            labels.append(max(a, key=lambda c: p[DIGIT_CLASSES.index(c)]))
    return labels, allowed


def _reading(form: FormRecord, field_id: str) -> tuple[FieldReading, PageReading] | None:
    reading = next((r for r in form.readings if r.field_id == field_id and r.digits), None)
    if reading is None:
        return None
    for p in form.pages:
        if p.registration.page == reading.page and any(f.field_id == field_id for f in p.fields):
            return reading, p
    return None


def label_decisions(forms: list[FormRecord], decisions: list[AppliedCorrection], source_root: Path | None,
                    settings: Settings | None = None) -> tuple[list[LabelledField], list[SkippedField]]:
    """Cut and label the boxes of every decided field. Never raises for a bad source or page: each
    field that gives no crops is in the second list with its reason. One decode per source page."""
    settings = settings or Settings()
    by_form = {(f.region_code, f.form_type.value): f for f in forms}
    skipped: list[SkippedField] = []

    def skip(d: AppliedCorrection, reason: StoreSkip, detail: str = "") -> None:
        skipped.append(SkippedField(region_code=d.region_code, form_type=d.form_type, field_id=d.field_id,
                                    reason=reason, detail=detail))

    pages: dict[tuple[str, int], list[tuple[AppliedCorrection, FieldReading, PageReading]]] = defaultdict(list)
    for d in decisions:
        if not d.kind.is_ink:  # only what is written on the paper labels boxes
            skip(d, StoreSkip.NOT_INK, f"an officer's slip: the paper says {d.old}, the count {d.new}")
            continue
        form = by_form.get((d.region_code, d.form_type))
        found = _reading(form, d.field_id) if form is not None else None
        if found is None:
            skip(d, StoreSkip.FIELD_NOT_READ, "the release holds no box reading of this field")
            continue
        pages[(found[1].file, found[1].page_index)].append((d, *found))

    out: list[LabelledField] = []
    for (file, index), items in pages.items():
        try:
            got, problem = _page_fields(file, index, items, source_root, settings)
        except Exception as exc:  # noqa: BLE001 - storing must never break applying corrections
            got, problem = [], (StoreSkip.INTERNAL_ERROR, " ".join(f"{type(exc).__name__}: {exc}".split()))
        if problem is not None:
            for d, _, _ in items:
                skip(d, *problem)
            continue
        for item in got:
            if isinstance(item, LabelledField):
                out.append(item)
            else:
                skip(*item)
    return out, skipped


def _page_fields(file: str, index: int, items: list[tuple[AppliedCorrection, FieldReading, PageReading]],
                 source_root: Path | None, settings: Settings
                 ) -> tuple[list[LabelledField | tuple[AppliedCorrection, StoreSkip, str]],
                            tuple[StoreSkip, str] | None]:
    page = items[0][2]
    path = (Path(source_root) / file) if source_root is not None else Path(file)
    if not path.is_file():
        return [], (StoreSkip.SOURCE_MISSING, str(path))
    if sha256_file(path) != page.file_sha256:
        return [], (StoreSkip.SOURCE_CHANGED, f"{path}: sha256 differs from the release's")
    try:
        img = decoded_page(path, index, settings.limits, settings.read)
    except DecodeError as exc:
        return [], (StoreSkip.DECODE_FAILED, f"{exc.reason.value}: {exc.detail}")
    if img is None:
        return [], (StoreSkip.DECODE_FAILED, f"{path} has no page {index}")
    form_type = FormType(items[0][0].form_type)
    reg = register_page(img.gray, expected=form_type)
    if isinstance(reg, RegisterFailure):
        return [], (StoreSkip.PAGE_NOT_REGISTERED, f"{reg.reason.value}: {reg.detail}")
    if (reg.form_type, reg.page) != (form_type, page.registration.page):
        return [], (StoreSkip.PAGE_NOT_REGISTERED, f"registered as {reg.form_type.value} page {reg.page}, "
                                                   f"the release read page {page.registration.page}")
    layout = load_layout(form_type).pages[reg.page - 1]
    crops, rows = page_crops(img.gray, page_map(reg), layout)  # exactly the crops the reader saw
    out: list[LabelledField | tuple[AppliedCorrection, StoreSkip, str]] = []
    for d, reading, p in items:
        f = next(f for f in layout.fields if f.id == d.field_id)
        probs = [dr.probs for dr in reading.digits]
        if len(probs) != len(f.boxes):
            out.append((d, StoreSkip.FIELD_NOT_READ, f"{len(probs)} readings for {len(f.boxes)} boxes"))
            continue
        lab = box_labels(d.new, probs)
        if lab is None:
            out.append((d, StoreSkip.VALUE_DOES_NOT_FIT, f"{d.new} in {len(f.boxes)} boxes"))
            continue
        out.append(LabelledField(decision=d, page=p, crops=crops[rows[f.id]],
                                 labels=lab[0], allowed=lab[1]))
    return out, None
