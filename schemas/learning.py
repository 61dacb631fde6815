"""Learning from the stewards: labelled box crops from their decisions, and model updates.

``ReviewedBox`` is one line of the reviewed-crop store's index; ``StoreSkip`` why a decided field
gave no crops; ``UpdateProblem`` why ``pindai model update`` could not run. Values are stable codes.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import BaseModel, Field


def form_key(region_code: str, form_type: str) -> str:
    return f"{region_code}/{form_type}"


def is_held_out(region_code: str, form_type: str, every: int = 5) -> bool:
    """Held-out split by FORM (never by box or page): every box of a form lands on the same side,
    so an evaluation never sees a form the candidate was trained on. Stable across runs."""
    h = int(hashlib.sha256(form_key(region_code, form_type).encode()).hexdigest(), 16)
    return h % max(1, every) == 0


class ReviewedBox(BaseModel):
    """One digit box a steward decided, as stored (a line of ``index.jsonl``)."""

    shard: str  # npz file in the store holding the crop
    row: int  # index of the crop in the shard's ``x``
    file_sha256: str
    file: str  # relative path in the batch folder the release read
    page: int  # form page number
    page_index: int  # page inside the file
    region_code: str
    form_type: str
    field_id: str
    box: int  # 0-based, most significant first
    label: str  # one of DIGIT_CLASSES: the training label
    # Every class the steward's value allows for this box: one digit for the value's own digits;
    # for leading boxes any "no digit" form ("0X_": the value cannot tell 0, X or blank apart, and
    # ``label`` is the reader's most probable of them). Evaluation counts a reading right when it
    # is in this set.
    allowed: str
    value: int | None  # the field's value as the steward decided it
    decision: str  # "confirmed" | "corrected"
    steward: str  # pseudonym, never a name
    at: str  # when the decision was applied (ISO)
    model_version: str  # the model that read the box
    release_id: str
    held_out: bool


class StoreSkip(StrEnum):
    """Why a decided field gave no labelled crops (recorded, never raised)."""

    SOURCE_MISSING = "source_missing"  # the scan is not where the run read it
    SOURCE_CHANGED = "source_changed"  # a file of that name is there, with other bytes
    DECODE_FAILED = "decode_failed"
    PAGE_NOT_REGISTERED = "page_not_registered"  # re-registration failed or found another page
    FIELD_NOT_READ = "field_not_read"  # the release has no reading of the field's boxes
    VALUE_DOES_NOT_FIT = "value_does_not_fit"  # more digits than boxes
    STORE_UNWRITABLE = "store_unwritable"
    # A steward corrected an officer's slip: the decided value is the truth of the count, not of
    # the ink, so the boxes must not be labelled with it.
    NOT_INK = "not_ink"
    INTERNAL_ERROR = "internal_error"


class SkippedField(BaseModel):
    region_code: str
    form_type: str
    field_id: str
    reason: StoreSkip
    detail: str = ""


class StoreReport(BaseModel):
    """What one ``review apply`` added to the reviewed-crop store."""

    store: str
    boxes: int = 0
    fields: int = 0
    held_out_boxes: int = 0
    shard: str | None = None
    skipped: list[SkippedField] = Field(default_factory=list)


class UpdateProblem(StrEnum):
    """Why a model update could not run (the CLI maps these to exit codes)."""

    NO_TORCH = "no_torch"  # the ``train`` extra (torch, onnx) is not installed
    EMPTY_STORE = "empty_store"
    NO_TRAINING_CROPS = "no_training_crops"  # every reviewed form is held out
    NO_HELD_OUT_CROPS = "no_held_out_crops"  # nothing to judge a candidate on
    WEIGHTS_UNMAPPABLE = "weights_unmappable"  # the current ONNX does not map onto training.net.DigitNet
    EXPORT_MISMATCH = "export_mismatch"  # the run time (onnxruntime) disagrees with torch on the exported candidate


class UpdateError(Exception):
    def __init__(self, problem: UpdateProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


class UpdateVerdict(StrEnum):
    """Why a candidate was (not) promoted; a report lists every rule it failed."""

    PROMOTED = "promoted"
    NOT_BETTER_ON_REVIEWED = "not_better_on_reviewed"  # held-out reviewed crops: no better than current
    WORSE_ON_BASE = "worse_on_base"  # forgot: base test accuracy dropped beyond the tolerance
    ACCEPTED_ERROR_TOO_HIGH = "accepted_error_too_high"  # > 0.2% of accepted held-out boxes wrong
