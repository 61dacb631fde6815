"""Read the printed/typed header (provinsi, kab/kota, kecamatan, desa, TPS number) with Tesseract.

Tesseract starts slowly (~0.2 s, ~0.9 s with the Indonesian model), so the header crops of many
pages are stacked into ONE image and read in one call; words are mapped back to their crop by
their vertical position. Handwritten headers read as little or nothing, which is fine: the header
is a cross-check of the identity from the file name or manifest, not its source.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from extract._exec.errors import ToolError
from extract._exec.tesseract import ocr_words
from schemas.layout import PageLayout

CROP_HEIGHT = 56  # px: typed header text ends up ~20-25 px tall, enough for Tesseract (84 px: no better)
GAP = 32
# Only confidently read words count: the header is a cross-check, and a misread must never flag a
# good form as belonging to another TPS.
MIN_WORD_CONF = 80
# A misread TPS number would flag a good form as another TPS's: degraded "010" reads as "019"
# with confidence 70-85 on 150-dpi scans, so a number needs more.
MIN_NUMBER_CONF = 90
# Only what the identity cross-check compares (transform.validate.identity_results): province and
# kab/kota names never tell two TPS of one kecamatan apart, and each field costs Tesseract time
# (measured: 56 -> 29 ms per page for these three at this crop height).
HEADER_FIELDS = ("kecamatan", "desa", "tps_number")


def header_crops(gray: np.ndarray, H: np.ndarray, page: PageLayout) -> dict[str, np.ndarray]:
    """Each header field's rect, rectified to CROP_HEIGHT px tall."""
    out: dict[str, np.ndarray] = {}
    for hf in page.header:
        if hf.id not in HEADER_FIELDS:
            continue
        r = hf.rect
        scale = CROP_HEIGHT / r.h
        w = max(8, int(round(r.w * scale)))
        dst = np.float32([[0, 0], [w, 0], [w, CROP_HEIGHT], [0, CROP_HEIGHT]])
        src = cv2.perspectiveTransform(np.float32(r.corners()).reshape(-1, 1, 2), H).reshape(-1, 2)
        M = cv2.getPerspectiveTransform(np.float32(src), dst)
        crop = cv2.warpPerspective(gray, M, (w, CROP_HEIGHT), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=255)
        out[hf.id] = _clean_crop(crop)
    return out


def _clean_crop(crop: np.ndarray) -> np.ndarray:
    """Black text on white: paper grey and JPEG noise thresholded away, and the dotted write-on
    line removed (its dots are small blobs; letters are tall)."""
    paper = float(np.percentile(crop, 90))
    ink = (crop < paper * 0.62).astype(np.uint8)
    _erase_dotted_line(ink)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    tall = np.zeros(n, bool)
    tall[1:] = stats[1:, cv2.CC_STAT_HEIGHT] >= 0.2 * crop.shape[0]
    return np.where(tall[labels], 0, 255).astype(np.uint8)


def _erase_dotted_line(ink: np.ndarray) -> None:
    """Erase the dotted write-on line in place, also where its dots touch the text.

    Typed text sits on the dotted line: a dot under a letter's foot merges with it, and the
    letter grows a tail ("0" reads as "9", "7" as "1" at Tesseract confidence >= 90: on 1,000
    generated forms 49 were flagged as another TPS's, 41 with the band blanked). The free dots (small blobs, at
    least three on one row) give the line's band, which runs just under the letters' feet: the
    whole band is blanked, the dots merged with letters included."""
    h = ink.shape[0]
    n, _, stats, cents = cv2.connectedComponentsWithStats(ink, connectivity=8)
    small = [i for i in range(1, n)
             if stats[i, cv2.CC_STAT_HEIGHT] <= 0.2 * h and stats[i, cv2.CC_STAT_WIDTH] <= 0.2 * h
             and stats[i, cv2.CC_STAT_AREA] >= 2]
    if len(small) < 3:
        return
    y_line = float(np.median([cents[i][1] for i in small]))
    dots = [i for i in small if abs(cents[i][1] - y_line) <= 2]
    if len(dots) < 3:
        return
    top = min(int(stats[i, cv2.CC_STAT_TOP]) for i in dots)
    bottom = max(int(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT]) for i in dots)
    if top < h // 2:
        return  # a write-on line runs under the text, never through its upper half
    ink[top:min(h, bottom + 1)] = 0


def _clean(text: str) -> str:
    # Dotted write-on lines read as runs of punctuation.
    text = re.sub(r"[.:_\-…·,;]{2,}", " ", text)
    text = re.sub(r"^[\s.:;,_\-]+|[\s.:;,_\-]+$", "", text)
    return re.sub(r"\s+", " ", text).strip()


def read_headers(pages: list[dict[str, np.ndarray]], timeout: float = 20.0) -> list[dict[str, str]]:
    """OCR many pages' header crops in one Tesseract call. Returns, per page, field -> text."""
    items = [(i, fid, crop) for i, crops in enumerate(pages) for fid, crop in crops.items()]
    results: list[dict[str, str]] = [{} for _ in pages]
    if not items:
        return results
    width = max(c.shape[1] for _, _, c in items) + 2 * GAP
    height = GAP + len(items) * (CROP_HEIGHT + GAP)
    sheet = np.full((height, width), 255, np.uint8)
    spans = []
    y = GAP
    for i, fid, crop in items:
        sheet[y: y + CROP_HEIGHT, GAP: GAP + crop.shape[1]] = crop
        spans.append((y, y + CROP_HEIGHT, i, fid))
        y += CROP_HEIGHT + GAP
    try:
        words = ocr_words(sheet, lang="ind", psm=4, timeout=timeout)
    except ToolError:
        return results  # the cross-check is lost for these pages, not the pages themselves
    texts: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for w in words:
        cy = w.top + w.height / 2
        for y0, y1, i, fid in spans:
            if y0 - GAP / 2 <= cy < y1 + GAP / 2:
                texts.setdefault((i, fid), []).append((w.left, w.text))
                break
    confs: dict[tuple[int, str], float] = {}
    for w in words:
        cy = w.top + w.height / 2
        for y0, y1, i, fid in spans:
            if y0 - GAP / 2 <= cy < y1 + GAP / 2:
                confs[(i, fid)] = min(confs.get((i, fid), 100.0), w.conf)
                break
    for (i, fid), ws in texts.items():
        if confs.get((i, fid), 0.0) < (MIN_NUMBER_CONF if fid == "tps_number" else MIN_WORD_CONF):
            continue  # one doubtful word makes the whole field unusable as evidence
        cleaned = _clean(" ".join(t for _, t in sorted(ws)))
        if fid == "tps_number" and not re.fullmatch(r"\d{1,3}", cleaned):
            continue  # a TPS number is 1-3 digits; anything else is a misread
        if cleaned:
            results[i][fid] = cleaned
    return results
