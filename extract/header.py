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
from extract.geometry import PageMap, as_map
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
NUMBER_FIELDS = ("tps_number",)  # what is compared without a register
MAX_CROPS_PER_SHEET = 300  # 300 x (56 + 32) px = 26,400 px: under Tesseract's 32,767


def header_crops(gray: np.ndarray, H: np.ndarray | PageMap, page: PageLayout,
                 fields: tuple[str, ...] = HEADER_FIELDS) -> dict[str, np.ndarray]:
    """Each header field's rect (of ``fields``), rectified to CROP_HEIGHT px tall."""
    out: dict[str, np.ndarray] = {}
    for hf in page.header:
        if hf.id not in fields:
            continue
        r = hf.rect
        scale = CROP_HEIGHT / r.h
        w = max(8, int(round(r.w * scale)))
        dst = np.float32([[0, 0], [w, 0], [w, CROP_HEIGHT], [0, CROP_HEIGHT]])
        src = as_map(H).to_image(np.asarray(r.corners(), np.float64))
        M = cv2.getPerspectiveTransform(np.float32(src), dst)
        crop = cv2.warpPerspective(gray, M, (w, CROP_HEIGHT), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=255)
        out[hf.id] = _clean_crop(crop)
    return out


def _clean_crop(crop: np.ndarray) -> np.ndarray:
    """Black text on white: paper grey and JPEG noise thresholded away, and the dotted write-on
    line removed (its dots are small blobs; letters are tall)."""
    ink = ink_mask(crop)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    tall = np.zeros(n, bool)
    tall[1:] = stats[1:, cv2.CC_STAT_HEIGHT] >= 0.2 * crop.shape[0]
    return np.where(tall[labels], 0, 255).astype(np.uint8)


def ink_mask(crop: np.ndarray) -> np.ndarray:
    """1 where a grey header crop has ink (well below its paper grey), the dotted line erased."""
    paper = float(np.percentile(crop, 90))
    ink = (crop < paper * 0.62).astype(np.uint8)
    _erase_dotted_line(ink)
    return ink


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


def read_headers(pages: list[dict[str, np.ndarray]], timeout: float = 20.0,
                 typed_numbers: list[str | None] | None = None) -> list[dict[str, str]]:
    """OCR many pages' header crops in few Tesseract calls. Returns, per page, field -> text.

    Names (kecamatan, desa) are read by the Indonesian model, one word below MIN_WORD_CONF
    dropping the field. A TPS number counts only when two independent reads agree exactly
    (``_vote_numbers``): any one alone names another TPS too often (the first read alone, even at
    confidence >= 90, did on 39 of 1,000 consistent generated forms: a leading "0" read as "1" or
    "2", a digit dropped). ``typed_numbers``: per page, the digit reader's reading of the number
    (``extract.typed_number``), is a third vote: on 1,000 generated forms the digit reader and the
    digits-only read agree on more scan pages than the two Tesseract reads, and on fewer photos,
    so all three vote."""
    results: list[dict[str, str]] = [{} for _ in pages]
    items = [(i, fid, crop) for i, crops in enumerate(pages) for fid, crop in crops.items()]
    first: list[str | None] = [None] * len(pages)
    if items:
        try:
            words = _ocr_sheet([crop for _, _, crop in items], lang="ind", psm=4, timeout=timeout)
        except ToolError:
            words = [[] for _ in items]  # the cross-check is lost for these pages, not the pages
        for (i, fid, _), ws in zip(items, words, strict=True):
            if not ws or min(c for _, _, c in ws) < (MIN_NUMBER_CONF if fid == "tps_number" else MIN_WORD_CONF):
                continue  # one doubtful word makes the whole field unusable as evidence
            cleaned = _clean(" ".join(t for _, t, _ in ws))
            if fid == "tps_number":
                first[i] = cleaned if re.fullmatch(r"\d{1,3}", cleaned) else None  # else a misread
            elif cleaned:
                results[i][fid] = cleaned
    _vote_numbers(results, pages, first, typed_numbers or [None] * len(pages), timeout)
    return results


def _vote_numbers(results: list[dict[str, str]], pages: list[dict[str, np.ndarray]], first: list[str | None],
                  typed: list[str | None], timeout: float) -> None:
    """Set a page's TPS number where two of its reads agree exactly: the Indonesian model's
    (``first``), the digit reader's (``typed``), and the English model restricted to digits, one
    block (psm 6), no confidence floor. That last one alone misreads often (159 wrong of 499
    generated pages), but rarely the same way as another: on 499 pages the first read alone gave
    2 wrong numbers and 35 right, it and the digits-only read agreeing 0 wrong and 31 right; on
    450 scan pages the digit reader and the digits-only read agreed on 132, none wrong. The
    digits-only read runs only on pages where another read gave a number (a small sheet, one
    Tesseract start)."""
    todo = [i for i in range(len(pages)) if "tps_number" in pages[i] and (first[i] or typed[i])]
    if not todo:
        return
    try:
        words = _ocr_sheet([pages[i]["tps_number"] for i in todo], lang="eng", psm=6, timeout=timeout,
                           whitelist="0123456789")
    except ToolError:
        words = [[] for _ in todo]
    for i, ws in zip(todo, words, strict=True):
        votes = [v for v in (first[i], typed[i], "".join(t for _, t, _ in ws)) if v]
        agreed = [v for v in dict.fromkeys(votes) if votes.count(v) >= 2]
        if len(agreed) == 1:
            results[i]["tps_number"] = agreed[0]


def _ocr_sheet(crops: list[np.ndarray], lang: str, psm: int, timeout: float,
               whitelist: str | None = None) -> list[list[tuple[int, str, float]]]:
    """The crops stacked into one image, one Tesseract call; per crop its words as (left, text,
    confidence), left to right (a word belongs to the crop its vertical centre falls in). Tesseract
    refuses images over 32767 px: a long list is read in several sheets."""
    if len(crops) > MAX_CROPS_PER_SHEET:
        return [ws for k in range(0, len(crops), MAX_CROPS_PER_SHEET)
                for ws in _ocr_sheet(crops[k: k + MAX_CROPS_PER_SHEET], lang, psm, timeout, whitelist)]
    width = max(c.shape[1] for c in crops) + 2 * GAP
    sheet = np.full((GAP + len(crops) * (CROP_HEIGHT + GAP), width), 255, np.uint8)
    spans = []
    y = GAP
    for crop in crops:
        sheet[y: y + CROP_HEIGHT, GAP: GAP + crop.shape[1]] = crop
        spans.append((y, y + CROP_HEIGHT))
        y += CROP_HEIGHT + GAP
    out: list[list[tuple[int, str, float]]] = [[] for _ in crops]
    for w in ocr_words(sheet, lang=lang, psm=psm, timeout=timeout, whitelist=whitelist):
        cy = w.top + w.height / 2
        for k, (y0, y1) in enumerate(spans):
            if y0 - GAP / 2 <= cy < y1 + GAP / 2:
                out[k].append((w.left, w.text, w.conf))
                break
    return [sorted(ws) for ws in out]
