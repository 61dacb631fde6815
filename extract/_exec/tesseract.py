"""The one wrapper around Tesseract. Used for PRINTED text only (page headers): on handwritten
digits in the form's boxes it reads about 10% right."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import cv2
import numpy as np

from extract._exec.errors import ToolError
from extract._exec.run import run_tool
from schemas.reasons import Reason


@dataclass(frozen=True)
class Word:
    text: str
    conf: float
    left: int
    top: int
    width: int
    height: int
    block: int
    line: int


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ToolError("tesseract", Reason.TOOL_ERROR, "could not encode the image for tesseract")
    return buf.tobytes()


def ocr_words(image: np.ndarray, lang: str = "ind", psm: int = 6, timeout: float = 20.0,
              whitelist: str | None = None) -> list[Word]:
    """Words with positions (TSV output). The image goes in on stdin: no temporary files, and no
    file name that could ever be read as an option."""
    args = ["stdin", "stdout", "-l", lang, "--psm", str(psm)]
    if whitelist:
        args += ["-c", f"tessedit_char_whitelist={whitelist}"]
    args += ["tsv"]
    out = run_tool("tesseract", args, timeout, stdin=_png(image)).decode("utf-8", "replace")
    words: list[Word] = []
    for row in csv.DictReader(io.StringIO(out), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        words.append(Word(text=text, conf=float(row["conf"]), left=int(row["left"]), top=int(row["top"]),
                          width=int(row["width"]), height=int(row["height"]), block=int(row["block_num"]),
                          line=int(row["line_num"])))
    return words


def version(timeout: float = 10.0) -> str:
    out = run_tool("tesseract", ["--version"], timeout).decode("utf-8", "replace")
    return out.splitlines()[0].strip() if out else ""
