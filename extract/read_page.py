"""Read every numeric field of a registered page: digit boxes (one batch per page) and bubbles."""

from __future__ import annotations

import numpy as np

from extract.bubbles import read_bubbles
from extract.digits import DigitReader, crop_boxes, read_number
from schemas.layout import PageLayout
from schemas.records import DigitReading, FieldReading


def page_crops(gray: np.ndarray, H: np.ndarray, page: PageLayout) -> tuple[np.ndarray, dict[str, slice]]:
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


def read_fields(gray: np.ndarray, H: np.ndarray, page: PageLayout, reader: DigitReader,
                bubble_fill: float = 0.6) -> list[FieldReading]:
    crops, rows = page_crops(gray, H, page)
    if not len(crops):
        return []
    probs = reader.predict(crops)  # one forward pass for the whole page
    out: list[FieldReading] = []
    for f in page.fields:
        p = probs[rows[f.id]]
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
        )
        if f.bubbles:
            b = read_bubbles(gray, H, f.bubbles, bubble_fill)
            reading.bubble_value = b.value
            reading.bubble_confident = b.confident
        out.append(reading)
    return out
