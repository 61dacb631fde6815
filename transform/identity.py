"""Cross-check a form's identity (file name / manifest) against its printed header.

OCR of a typed header is noisy, so names are compared fuzzily and only a clear disagreement on
enough text counts as a mismatch; an empty or handwritten header (nothing read) checks nothing.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

# Header field -> length of the region-code prefix it names.
NAME_FIELDS = {"provinsi": 2, "kabkota": 4, "kecamatan": 6, "desa": 10}
MIN_CHARS = 4  # fewer letters read than this is not evidence either way
MAX_SIMILAR_MISMATCH = 0.5


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"^(KABUPATEN|KAB\.?|KOTA ADM\.?|KOTA|KEC\.?|KECAMATAN|DESA|KELURAHAN|KEL\.?)\s+", "",
                  text.upper().strip())
    return re.sub(r"[^A-Z0-9]", "", text)


def name_similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, _norm(a), _norm(b)).ratio()


def header_mismatches(header: dict[str, str], region_code: str, id2name: dict[str, str] | None) -> list[str]:
    """Human-readable disagreements between what the header says and what the identity implies."""
    problems: list[str] = []
    tps_text = header.get("tps_number", "")
    digits = re.sub(r"\D", "", tps_text)
    if len(region_code) == 13 and 1 <= len(digits) <= 3 and int(digits) != int(region_code[10:]):
        problems.append(f"header TPS number reads {tps_text!r}, the file says TPS {region_code[10:]}")
    if id2name:
        for fid, n in NAME_FIELDS.items():
            read = header.get(fid, "")
            expected = id2name.get(region_code[:n]) if len(region_code) >= n else None
            if not expected or len(_norm(read)) < MIN_CHARS:
                continue
            if name_similarity(read, expected) < MAX_SIMILAR_MISMATCH:
                problems.append(f"header {fid} reads {read!r}, the code {region_code[:n]} is {expected!r}")
    return problems
