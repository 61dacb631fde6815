"""Declared types that pass between stages (extract -> transform -> load)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.layout import FormType
from schemas.reasons import Reason, Status
from schemas.reconcile import CoverageRow, ReconciliationRow

# Digit classifier classes: 0-9, then "no digit" marks (X or -) and an empty box.
DIGIT_CLASSES: tuple[str, ...] = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "X", "_")
CLASS_NODIGIT = 10  # an X or a dash written into an unused leading box
CLASS_BLANK = 11
# A reading counts as evidence against another reading of the same paper (R12: two scans of one
# page; the header's TPS number vote) when every box's merged-symbol probability is at least this.
# Not the reader's acceptance threshold: that one is chosen so that few accepted digits are wrong
# on handwriting the reader never saw (0.999922 since digits-20261123-cf0e5777), and at it these
# cross-checks would compare far fewer readings (the header vote read a TPS number on 559 of 2,996
# pages instead of 906). This was the acceptance threshold they were measured with.
CROSS_CHECK_MIN_P = 0.998896


class FileIdentity(BaseModel):
    """Which form (and page) a file claims to be, from manifest.csv or the file name."""

    region_code: str  # 13-digit TPS code, or 6-digit kecamatan code for D.Hasil
    form_type: FormType
    page: int | None = None  # None: the file holds every page (or we must find out)
    source: str  # "manifest" | "name"


class InputFile(BaseModel):
    path: str  # as given (relative to the input folder when possible)
    rel_path: str
    size: int
    sha256: str
    identity: FileIdentity | None = None


class Registration(BaseModel):
    form_type: FormType
    page: int
    homography: list[list[float]]  # 3x3, layout units -> image pixels
    rotation: int  # 0/90/180/270: how the page was turned in the image (clockwise)
    reprojection_error: float  # mean, in layout units
    marks_found: int
    method: str  # "tag+marks" | "tag" | "frame"
    score: float = Field(ge=0, le=1)  # 1 = perfect
    px_per_unit: float  # image pixels per layout unit (scale), for the "too small" check
    # Where the printed structure was found (extract.refine): [layout x, y, image x, y] per anchor
    # (tag corners, mark cells, digit boxes). The page map (extract.geometry.page_map) is the
    # homography plus a thin-plate spline through these; empty: the homography alone.
    anchors: list[list[float]] = Field(default_factory=list)
    anchor_scale: float | None = None  # the spline's smoothing (None: the default)
    box_quality: dict[str, list[float]] = Field(default_factory=dict)  # field id -> per box 0..1
    fields_found: int | None = None  # fields with at least half their boxes found


class DigitReading(BaseModel):
    probs: list[float]  # len(DIGIT_CLASSES), calibrated probabilities
    top: int  # argmax class

    @property
    def confidence(self) -> float:
        return self.probs[self.top]


class FieldReading(BaseModel):
    field_id: str
    page: int
    value: int | None  # None: nothing written (every box blank/no-digit) or unreadable
    confidence: float  # probability of the joint reading of all boxes
    digits: list[DigitReading]
    alternatives: list[tuple[int | None, float]] = Field(default_factory=list)  # next best readings
    bubble_value: int | None = None  # second reading from the bubbles, where the layout has them
    bubble_confident: bool = False
    unsure: bool = False  # some box below the confidence threshold
    malformed: bool = False  # e.g. a digit after a blank/no-digit, or only no-digit marks
    # Per box, how well registration placed it (0..1; empty: not measured). A box below 0.5 had
    # its digit probabilities pulled toward uniform: it is read as unsure (review), not failed.
    placement: list[float] = Field(default_factory=list)


class PageReading(BaseModel):
    file: str
    file_sha256: str
    page_index: int  # 0-based index of the page inside the file
    registration: Registration
    fields: list[FieldReading]
    header_text: dict[str, str] = Field(default_factory=dict)
    seconds: dict[str, float] = Field(default_factory=dict)  # per-stage timing


class PageRejection(BaseModel):
    file: str
    file_sha256: str
    page_index: int
    reason: Reason
    detail: str = ""


class FileOutcome(BaseModel):
    """What extraction made of one input file."""

    file: InputFile
    pages: list[PageReading] = Field(default_factory=list)
    rejected_pages: list[PageRejection] = Field(default_factory=list)
    failure: Reason | None = None  # the whole file could not be processed
    detail: str = ""


class RuleResult(BaseModel):
    rule_id: str
    severity: str  # "hard" | "soft"
    fields: list[str]
    expected: float | None = None
    found: float | None = None
    message_id: str
    message_en: str


class Correction(BaseModel):
    field_id: str
    old: int | None
    new: int | None
    by: str  # "auto" or a steward's name
    at: str  # ISO timestamp ("" for automatic corrections; deterministic)
    reason: str
    boxes_changed: list[int] = Field(default_factory=list)
    probability: float | None = None
    # automatic corrections: the lowest probability the reader gave, among the boxes changed, to
    # the symbol the box was changed to (a strong runner-up vs a long shot)
    box_probability: float | None = None


class Suggestion(BaseModel):
    """A reading the form's arithmetic prefers, not applied automatically (several solutions, or a
    field no equality pins): shown to the stewards with its provenance."""

    field_id: str
    old: int | None
    new: int | None
    probability: float  # of the suggested reading under the digit reader's box probabilities
    boxes_changed: list[int] = Field(default_factory=list)  # 0-based box indices
    rules: list[str] = Field(default_factory=list)  # the rules the suggestion satisfies
    solutions: int = 1  # how many distinct assignments satisfied the rules
    detail: str = ""  # "box 2: 8 (p=0.55) -> 3 (p=0.41)"


class FormRecord(BaseModel):
    """One form (TPS + form type, or kecamatan + form type), after validation."""

    region_code: str
    form_type: FormType
    status: Status
    reasons: list[Reason] = Field(default_factory=list)
    values: dict[str, int | None]
    readings: list[FieldReading] = Field(default_factory=list)
    issues: list[RuleResult] = Field(default_factory=list)
    corrections: list[Correction] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(default_factory=list)  # arithmetic's preferred readings
    files: list[str] = Field(default_factory=list)
    pages: list[PageReading] = Field(default_factory=list)
    min_confidence: float | None = None


class FileStatus(BaseModel):
    """How one input file ended: exactly one status, with the reason(s)."""

    file: str
    sha256: str
    size: int
    status: Status
    reasons: list[Reason] = Field(default_factory=list)
    detail: str = ""
    region_code: str | None = None
    form_type: FormType | None = None
    pages: int = 0


class BatchResult(BaseModel):
    """Everything a run produced, before it is written as a release."""

    forms: list[FormRecord]
    files: list[FileStatus]
    ignored_files: list[str] = Field(default_factory=list)
    skipped_links: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)  # batch-level problems (e.g. a bad manifest.csv)
    # Across forms and against the register (transform.reconcile); recomputed whenever forms change.
    reconciliation: list[ReconciliationRow] = Field(default_factory=list)
    coverage: list[CoverageRow] = Field(default_factory=list)
    model_version: str = ""
    pipeline_version: str = ""
