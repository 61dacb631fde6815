"""Form layouts as data.

A layout describes one page of one form type in *layout units* (PDF points for the official
forms: at 72 dpi one pixel is one unit), origin at the top-left corner, x to the right, y down.
Nothing here depends on scan resolution; the reader maps layout units to image pixels with the
homography found by registration.

Layout files live in ``schemas/layouts/<form_type>.json`` and are validated by these models.
Adding a form type means adding a layout file (and a rule set), not code.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FormType(StrEnum):
    """Form types pindai knows. The value is the token used in file names and releases."""

    PPWP = "ppwp"  # C.Hasil-PPWP plano (president), 3 pages, official 2024 layout
    PPWP_SALINAN = "ppwp-salinan"  # C.Hasil Salinan-PPWP, A4 copy, 2 pages, official layout
    DPR = "dpr"  # C.Hasil-DPR look-alike
    DHASIL_PPWP = "dhasil-ppwp"  # D.Hasil Kecamatan PPWP recap look-alike


class Rect(BaseModel):
    """Axis-aligned rectangle in layout units (top-left corner, width, height)."""

    model_config = ConfigDict(frozen=True)
    x: float
    y: float
    w: float = Field(gt=0)
    h: float = Field(gt=0)

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def corners(self) -> list[tuple[float, float]]:
        """TL, TR, BR, BL."""
        return [(self.x, self.y), (self.x + self.w, self.y), (self.x + self.w, self.y + self.h),
                (self.x, self.y + self.h)]


class Circle(BaseModel):
    model_config = ConfigDict(frozen=True)
    cx: float
    cy: float
    r: float = Field(gt=0)


class Mark(BaseModel):
    """A solid black registration mark near a page corner.

    ``rect`` is the mark's bounding square. The official plano marks are L-ish shapes made of
    two squares; ``rect`` is the solid square registration uses, ``corner`` names the page
    corner it sits at.
    """

    corner: Literal["tl", "tr", "br", "bl"]
    rect: Rect
    # Optional: the solid squares the mark is printed as (for rendering); empty = ``rect`` is solid.
    cells: list[Rect] = Field(default_factory=list)


class Tag(BaseModel):
    """An AprilTag (family 36h10) that identifies form type and page.

    ``corners`` are the tag's outer black border corners in layout units, in the order OpenCV's
    ArUco detector reports them on the upright page: corners[i] is where detected corner i lies
    (the tag's own TL, TR, BR, BL). The official plano prints its tag rotated 180 degrees, so
    there corners[0] is the bottom-right corner as seen on the page; look-alikes print it upright.
    """

    family: Literal["36h10"] = "36h10"
    id: int
    corners: list[tuple[float, float]] = Field(min_length=4, max_length=4)


class PrintedText(BaseModel):
    """Static text printed on the form (for rendering look-alikes; never read).

    ``x``/``y`` is the anchor point: left/centre/right (``align``) of the text's top edge;
    ``size`` is the font size in layout units.
    """

    model_config = ConfigDict(frozen=True)
    text: str
    x: float
    y: float
    size: float = Field(gt=0)
    bold: bool = False
    italic: bool = False
    align: Literal["left", "center", "right"] = "left"
    gray: int = Field(default=0, ge=0, le=255)


class Line(BaseModel):
    """A printed rule (table line) from (x0, y0) to (x1, y1), ``t`` thick, for rendering."""

    model_config = ConfigDict(frozen=True)
    x0: float
    y0: float
    x1: float
    y1: float
    t: float = Field(default=1.0, gt=0)
    gray: int = Field(default=0, ge=0, le=255)
    dotted: bool = False  # a dotted write-on line (header fields)


class Field_(BaseModel):
    """One numeric field: a row of digit boxes, most significant digit first."""

    id: str
    section: str  # e.g. "I.A", "II.1", "IV", "V.A"
    label_id: str  # Indonesian label as printed on the form
    label_en: str
    boxes: list[Rect] = Field(min_length=1)
    # Optional second reading: for each digit box, ten bubbles for digits 0..9 (PPWP plano p.2).
    bubbles: list[list[Circle]] | None = None
    # Optional tally grid / words area (crop shown to reviewers; not read).
    extra: dict[str, Rect] = Field(default_factory=dict)
    # Optional faint guide printed inside each box (PPWP plano p.2: dotted seven-segment digit).
    guide: Literal["seven_segment"] | None = None

    @model_validator(mode="after")
    def _bubbles_match_boxes(self) -> Field_:
        if self.bubbles is not None:
            if len(self.bubbles) != len(self.boxes):
                raise ValueError(f"{self.id}: one bubble column per digit box expected")
            if any(len(col) != 10 for col in self.bubbles):
                raise ValueError(f"{self.id}: each bubble column needs 10 bubbles (0..9)")
        return self

    @property
    def max_value(self) -> int:
        return 10 ** len(self.boxes) - 1


class HeaderField(BaseModel):
    """A printed/typed identity field in the page header (read with Tesseract)."""

    id: Literal["provinsi", "kabkota", "kecamatan", "desa", "tps_number", "page_label"]
    rect: Rect


class PageLayout(BaseModel):
    form_type: FormType
    page: int = Field(ge=1)  # 1-based
    width: float = Field(gt=0)
    height: float = Field(gt=0)
    marks: list[Mark] = Field(default_factory=list)  # four corner marks, when printed
    tag: Tag | None = None
    # Printed frame (outer border of the main table/page frame), for tag-less layouts.
    frame: Rect | None = None
    # Horizontal ruled lines' y positions (layout units) inside the frame: page signature
    # for tag-less layouts (page 1 and page 2 of the Salinan differ here).
    ruled_rows: list[float] = Field(default_factory=list)
    fields: list[Field_] = Field(default_factory=list)
    header: list[HeaderField] = Field(default_factory=list)
    # Areas holding personal data (names, signatures): never cropped, stored or published.
    private: list[Rect] = Field(default_factory=list)
    # Optional printed row-label cells (D.Hasil desa table: row NN's printed desa code sits in
    # row_labels[NN-1]); read with Tesseract like header fields.
    row_labels: list[Rect] = Field(default_factory=list)
    # Rendering only (look-alikes and tests): static printed text, rules and solid fills.
    printed: list[PrintedText] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)
    fills: list[Rect] = Field(default_factory=list)

    @model_validator(mode="after")
    def _registrable(self) -> PageLayout:
        if self.tag is None and self.frame is None and len(self.marks) < 4:
            raise ValueError(f"{self.form_type} p{self.page}: needs a tag, a frame or four marks")
        return self


class FormLayout(BaseModel):
    form_type: FormType
    title: str
    source: str  # where the geometry comes from ("official 2024 template, measured" / "look-alike")
    pages: list[PageLayout] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> FormLayout:
        seen: set[str] = set()
        for i, page in enumerate(self.pages, start=1):
            if page.page != i or page.form_type != self.form_type:
                raise ValueError(f"{self.form_type}: page {i} is out of order or of another type")
            for f in page.fields:
                if f.id in seen:
                    raise ValueError(f"{self.form_type}: field id {f.id} appears twice")
                seen.add(f.id)
        return self

    def field_ids(self) -> list[str]:
        return [f.id for p in self.pages for f in p.fields]

    def field(self, field_id: str) -> Field_:
        for p in self.pages:
            for f in p.fields:
                if f.id == field_id:
                    return f
        raise KeyError(field_id)

    def page_of(self, field_id: str) -> int:
        for p in self.pages:
            if any(f.id == field_id for f in p.fields):
                return p.page
        raise KeyError(field_id)


@cache
def load_layout(form_type: FormType | str) -> FormLayout:
    """Load and validate the packaged layout of ``form_type``."""
    ft = FormType(form_type)
    text = resources.files("schemas").joinpath("layouts", f"{ft.value}.json").read_text("utf-8")
    return FormLayout.model_validate(json.loads(text))


def all_layouts() -> dict[FormType, FormLayout]:
    return {ft: load_layout(ft) for ft in FormType}


def tag_index() -> dict[int, tuple[FormType, int]]:
    """AprilTag id -> (form type, page) over every packaged layout."""
    out: dict[int, tuple[FormType, int]] = {}
    for ft, layout in all_layouts().items():
        for page in layout.pages:
            if page.tag is not None:
                out[page.tag.id] = (ft, page.page)
    return out
