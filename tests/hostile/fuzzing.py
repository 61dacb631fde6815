"""Seeded fuzzing of the file intake: valid scans and PDFs, corrupted (byte flips, truncation,
header swaps between formats, chunk duplication/deletion, zeroed ranges), through ``process_file``.

A crash is an exception escaping ``process_file`` or an outcome of ``internal_error``; anything
else (an enumerated rejection, a tool timeout, or a page read in spite of the damage) is fine.
Used by ``tests/hostile/test_fuzz.py`` (100 cases) and ``scripts/fuzz.py`` (``--cases 1000``).
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from hostile_inputs import image_pdf

from schemas.reasons import Reason
from schemas.records import FileIdentity, FileOutcome, InputFile
from schemas.settings import Settings

MAGICS = {
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
    "tiff": b"II*\x00\x08\x00\x00\x00",
    "webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "html": b"<!DOCTYPE html><html>",
}
EXTS = {"jpeg": "jpg", "png": "png", "pdf": "pdf", "tiff": "tif", "webp": "webp"}


@dataclass(frozen=True)
class Source:
    name: str  # e.g. "p1.jpg"
    kind: str  # jpeg | png | pdf | tiff | webp
    data: bytes
    code: str  # the TPS the pages belong to


def make_sources(scan_pages: list[Path], code: str, scale: float = 0.7) -> list[Source]:
    """Valid inputs of every format from a few generated pages (downscaled: fast to read)."""
    grays = []
    for p in scan_pages:
        g = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        grays.append(cv2.resize(g, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    enc = [cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes() for g in grays]
    out = [Source(f"p{i + 1}.jpg", "jpeg", e, code) for i, e in enumerate(enc)]
    bw = cv2.threshold(grays[0], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
    out.append(Source("p1-bw.png", "png", cv2.imencode(".png", bw)[1].tobytes(), code))
    out.append(Source("p2.webp", "webp", cv2.imencode(".webp", grays[1 % len(grays)],
                                                      [cv2.IMWRITE_WEBP_QUALITY, 60])[1].tobytes(), code))
    ok, tif = cv2.imencodemulti(".tif", grays[:2])
    assert ok
    out.append(Source("p12.tif", "tiff", tif.tobytes(), code))
    dpi = 200 * scale
    pages = [(e, g.shape[1], g.shape[0]) for e, g in zip(enc, grays, strict=True)]
    out.append(Source("form.pdf", "pdf", image_pdf(pages, dpi=dpi), code))
    out.append(Source("form-enc.pdf", "pdf", image_pdf(pages[:1], dpi=dpi, owner_pw="kpu"), code))
    return out


# --------------------------------------------------------------------------- mutations

def _flip(data: bytearray, rng: np.random.Generator) -> str:
    n = int(rng.integers(1, 64))
    near_head = rng.random() < 0.5  # headers and table structures live near the start
    hi = min(len(data), 4096) if near_head else len(data)
    for pos in rng.integers(0, max(1, hi), n):
        data[int(pos)] ^= int(rng.integers(1, 256))
    return f"flip{n}{'@head' if near_head else ''}"


def _truncate(data: bytearray, rng: np.random.Generator) -> str:
    cut = int(rng.integers(0, len(data)))
    del data[cut:]
    return f"truncate@{cut}"


def _swap_header(data: bytearray, rng: np.random.Generator) -> str:
    kind = str(rng.choice(list(MAGICS)))
    magic = MAGICS[kind]
    if rng.random() < 0.5:
        data[: len(magic)] = magic  # overwrite
        return f"header->{kind}"
    data[0:0] = magic  # prepend
    return f"prepend-{kind}"


def _duplicate(data: bytearray, rng: np.random.Generator) -> str:
    a = int(rng.integers(0, len(data)))
    b = min(len(data), a + int(rng.integers(1, 1 + max(1, len(data) // 4))))
    at = int(rng.integers(0, len(data) + 1))
    data[at:at] = data[a:b]
    return f"dup[{a}:{b}]@{at}"


def _delete(data: bytearray, rng: np.random.Generator) -> str:
    a = int(rng.integers(0, len(data)))
    b = min(len(data), a + int(rng.integers(1, 1 + max(1, len(data) // 8))))
    del data[a:b]
    return f"del[{a}:{b}]"


def _zero(data: bytearray, rng: np.random.Generator) -> str:
    a = int(rng.integers(0, len(data)))
    b = min(len(data), a + int(rng.integers(1, 4096)))
    data[a:b] = bytes(b - a)
    return f"zero[{a}:{b}]"


MUTATIONS: dict[str, Callable[[bytearray, np.random.Generator], str]] = {
    "flip": _flip, "truncate": _truncate, "swap_header": _swap_header, "duplicate": _duplicate,
    "delete": _delete, "zero": _zero,
}


def mutate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One to three mutations, each chosen at random."""
    buf = bytearray(data)
    done = []
    for _ in range(int(rng.integers(1, 4))):
        if not buf:
            break
        done.append(MUTATIONS[str(rng.choice(list(MUTATIONS)))](buf, rng))
    return bytes(buf), "+".join(done)


# --------------------------------------------------------------------------- running cases

@dataclass
class Case:
    index: int
    source: str
    mutation: str
    path: Path
    outcome: str = ""  # failure reason, or "read" / rejected page reasons
    seconds: float = 0.0
    crash: str = ""


@dataclass
class FuzzReport:
    cases: list[Case] = field(default_factory=list)

    @property
    def crashes(self) -> list[Case]:
        return [c for c in self.cases if c.crash]

    def counts(self) -> Counter:
        return Counter(c.outcome for c in self.cases)

    def summary(self) -> str:
        lines = [f"{len(self.cases)} cases, {len(self.crashes)} crashes, "
                 f"slowest {max((c.seconds for c in self.cases), default=0):.2f} s, "
                 f"total {sum(c.seconds for c in self.cases):.1f} s"]
        lines += [f"  {n:5d}  {k}" for k, n in self.counts().most_common()]
        for c in self.crashes:
            lines.append(f"  CRASH case {c.index} ({c.source}, {c.mutation}, {c.path}): {c.crash}")
        return "\n".join(lines)


def label(oc: FileOutcome) -> str:
    if oc.failure is not None:
        return oc.failure.value
    parts = ["read"] if oc.pages else []
    parts += sorted({r.reason.value for r in oc.rejected_pages})
    return "+".join(parts) or "nothing"


def fuzz_cases(sources: list[Source], n: int, seed: int, work_dir: Path) -> list[tuple[int, Source, str, Path]]:
    """Write ``n`` corrupted files (names claim a TPS; the extension is sometimes a lie)."""
    rng = np.random.default_rng(seed)
    work_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        src = sources[int(rng.integers(0, len(sources)))]
        data, how = mutate(src.data, rng)
        ext = EXTS[src.kind] if rng.random() < 0.8 else str(rng.choice(list(EXTS.values())))
        path = work_dir / f"{src.code}_ppwp_p{i % 3 + 1}.case{i:05d}.{ext}"
        path.write_bytes(data)
        out.append((i, src, how, path))
    return out


def run_case(index: int, src: Source, how: str, path: Path, settings: Settings, reader) -> Case:
    from extract.process import process_file

    case = Case(index, src.name, how, path)
    item = InputFile(path=str(path), rel_path=path.name, size=path.stat().st_size, sha256=f"case{index}",
                     identity=FileIdentity(region_code=src.code, form_type="ppwp", page=None, source="name"))
    t0 = time.perf_counter()
    try:
        oc = process_file(item, settings, reader)
        case.outcome = label(oc)
        if oc.failure is Reason.INTERNAL_ERROR:
            case.crash = oc.detail
    except BaseException as exc:  # noqa: BLE001 - exactly what the fuzzer hunts
        case.outcome = "EXCEPTION"
        case.crash = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    case.seconds = time.perf_counter() - t0
    return case


def run_fuzz(sources: list[Source], n: int, seed: int, work_dir: Path, settings: Settings, reader,
             progress: Callable[[Case], None] | None = None) -> FuzzReport:
    report = FuzzReport()
    for i, src, how, path in fuzz_cases(sources, n, seed, work_dir):
        case = run_case(i, src, how, path, settings, reader)
        report.cases.append(case)
        if progress:
            progress(case)
    return report


def fuzz_settings() -> Settings:
    s = Settings(workers=1)
    s.limits.pdftoppm_timeout_s = 15  # a pathological PDF fails as tool_timeout, sooner
    s.read.header_ocr = False
    return s
