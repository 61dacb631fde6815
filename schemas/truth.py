"""Ground truth written by the sample generator (``truth.jsonl``, one ``TruthForm`` per line)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.layout import FormType


class Mistake(BaseModel):
    """A realistic officer mistake injected on purpose, so tests can check it is flagged."""

    kind: str  # "sum_off" | "swap" | "foreign_page" | "recap_off" | "bubble_mismatch"
    fields: list[str] = Field(default_factory=list)
    detail: str = ""


class TruthPage(BaseModel):
    page: int  # page number of the form (1-based)
    file: str  # path relative to the batch folder
    page_index: int = 0  # index of the page inside the file (multi-page PDF)
    quality: str  # "scan" | "photo" | "fax" | "photo-hard"
    rotation: int = 0  # 0/90/180/270, clockwise, as placed in the image
    dpi: float | None = None
    # Where every digit box really is in the final image as decoded: field id -> one [cx, cy, side]
    # per box (OpenCV pixel-centre coordinates, i.e. pixel column i is centred at x = i; side = mean
    # length of the box's four projected edges), from the generator's exact forward model. For a
    # page inside a PDF: pixels of the image embedded in it (at ``dpi``).
    boxes_px: dict[str, list[list[float]]] = Field(default_factory=dict)
    # The page's main photo parameters (tilt, curl, sag, k1, fov, fill, rotation, screen, shadow,
    # glare, min_box_px, ...), for breaking results down; empty for other qualities.
    conditions: dict[str, float | str] = Field(default_factory=dict)


class TruthForm(BaseModel):
    region_code: str  # 13-digit TPS code, or 6-digit kecamatan code for D.Hasil
    form_type: FormType
    values: dict[str, int | None]  # every field as written on the form (after mistakes)
    consistent: bool  # True: every hard rule holds
    mistakes: list[Mistake] = Field(default_factory=list)
    pages: list[TruthPage]
    writer: str = ""  # handwriting source and writer/style id
    # What each box holds as written ("0"-"9", "X", "-", ""), per field, most significant first.
    boxes: dict[str, list[str]] = Field(default_factory=dict)
    # Bubbles blackened under each digit box ("0"-"9", or "" for none), for fields that have them.
    bubbles: dict[str, list[str]] = Field(default_factory=dict)
    # How the form was drawn (synth/renderings.py): "default", "small-offcentre", "thin-faint",
    # "thick-marker", "blocky" or "other-scanner".
    rendering: str = "default"
