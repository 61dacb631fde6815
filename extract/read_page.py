"""Read every numeric field of a registered page: digit boxes (one batch per page) and bubbles."""

from __future__ import annotations

import numpy as np

from extract.bubbles import read_bubbles
from extract.digits import DigitReader, crop_boxes, read_number
from extract.geometry import PageMap
from schemas.layout import PageLayout
from schemas.records import DigitReading, FieldReading


def page_crops(gray: np.ndarray, H: np.ndarray | PageMap, page: PageLayout) -> tuple[np.ndarray, dict[str, slice]]:
    """Every digit box of the page, cut in ONE ``crop_boxes`` call, and each field's rows.

    Whoever needs the crops the reader saw (the stewards' store too) cuts them here: the
    supersampling of ``crop_boxes`` follows the median size of the boxes it is given, so a field
    cut on its own can come out resampled differently."""
    crops = crop_boxes(gray, H, [r for f in page.fields for r in f.boxes])
    rows, i = {}, 0
    for f in page.fields:
        rows[f.id] = slice(i, i + len(f.boxes))
        i += len(f.boxes)
    return crops, rows


WEAK_PLACEMENT = 0.5


def unsure_where_misplaced(p: np.ndarray, placement: list[float]) -> np.ndarray:
    """Box probabilities pulled toward uniform where the box was weakly placed (quality below
    ``WEAK_PLACEMENT``: fully uniform at 0): a box registration could not find is read as unsure,
    so the form goes to review instead of trusting a crop of the wrong place."""
    if not placement or len(placement) != len(p):
        return p
    q = np.asarray(placement, np.float64)
    w = np.clip((WEAK_PLACEMENT - q) / WEAK_PLACEMENT, 0.0, 1.0)[:, None]
    if not w.any():
        return p
    return (1 - w) * p + w / p.shape[1]


def read_fields(gray: np.ndarray, H: np.ndarray | PageMap, page: PageLayout, reader: DigitReader,
                bubble_fill: float = 0.6, box_quality: dict[str, list[float]] | None = None) -> list[FieldReading]:
    """``box_quality``: per field, each box's placement quality from registration."""
    crops, rows = page_crops(gray, H, page)
    if not len(crops):
        return []
    probs = reader.predict(crops)  # one forward pass for the whole page
    out: list[FieldReading] = []
    box_quality = box_quality or {}
    for f in page.fields:
        placement = box_quality.get(f.id, [])
        p = unsure_where_misplaced(probs[rows[f.id]], placement)
        num = read_number(p, reader.accept_threshold)
        reading = FieldReading(
            field_id=f.id,
            page=page.page,
            value=num.value,
            confidence=num.confidence,
            digits=[DigitReading(probs=[round(float(x), 6) for x in row], top=int(np.argmax(row))) for row in p],
            alternatives=num.alternatives,
            unsure=num.unsure,
            malformed=num.malformed,
            placement=list(placement),
        )
        if f.bubbles:
            b = read_bubbles(gray, H, f.bubbles, bubble_fill)
            reading.bubble_value = b.value
            reading.bubble_confident = b.confident
        out.append(reading)
    return out
